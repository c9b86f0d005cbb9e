package config

import (
	"context"
	"fmt"

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
	return string(resp.GetPayload().GetData()), nil
}
