package config

import (
	"context"
	"fmt"
	"strings"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
)

// SecretManager resolves references with the Secret Manager API.
type SecretManager struct{ Client *secretmanager.Client }

// Resolve accesses the named secret version, e.g.
// "projects/p/secrets/session-secret/versions/latest".
func (s SecretManager) Resolve(ctx context.Context, name string) (string, error) {
	resp, err := s.Client.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: name})
	if err != nil {
		return "", fmt.Errorf("access %s: %w", name, err)
	}
	// `echo value | gcloud secrets create` stores a trailing newline.
	return strings.TrimRight(string(resp.GetPayload().GetData()), "\r\n"), nil
}
