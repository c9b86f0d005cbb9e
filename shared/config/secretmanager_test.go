package config_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/owlette/server/shared/config"
)

// fakeSecretManager is an in-process Secret Manager (there is no emulator):
// AccessSecretVersion returns the payload of known version names and
// NotFound otherwise.
type fakeSecretManager struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer
	secrets map[string]string

	mu    sync.Mutex
	asked []string
}

func (f *fakeSecretManager) AccessSecretVersion(_ context.Context, req *secretmanagerpb.AccessSecretVersionRequest) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	f.mu.Lock()
	f.asked = append(f.asked, req.GetName())
	f.mu.Unlock()
	v, ok := f.secrets[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Secret [%s] not found or has no versions.", req.GetName())
	}
	return &secretmanagerpb.AccessSecretVersionResponse{
		Name:    req.GetName(),
		Payload: &secretmanagerpb.SecretPayload{Data: []byte(v)},
	}, nil
}

// startFakeSecretManager serves f on 127.0.0.1:0 and returns a client bound
// to it; both are closed at the end of the test.
func startFakeSecretManager(t *testing.T, f *fakeSecretManager) *secretmanager.Client {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	secretmanagerpb.RegisterSecretManagerServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	ctx := context.Background()
	c, err := secretmanager.NewClient(ctx,
		option.WithEndpoint(lis.Addr().String()),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	)
	if err != nil {
		t.Fatalf("secretmanager.NewClient: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestSecretManagerResolve(t *testing.T) {
	const (
		cron  = "projects/p/secrets/cron/versions/latest"
		multi = "projects/p/secrets/multi/versions/2"
	)
	fake := &fakeSecretManager{secrets: map[string]string{
		cron:  "cron-value",
		multi: "line one\nline two\x00binary",
	}}
	res := config.SecretManager{Client: startFakeSecretManager(t, fake)}

	tests := []struct {
		name     string
		ref      string
		want     string
		wantCode codes.Code // codes.OK for success
	}{
		{"value resolved", cron, "cron-value", codes.OK},
		{"payload returned byte for byte", multi, "line one\nline two\x00binary", codes.OK},
		{"unknown secret is NotFound", "projects/p/secrets/nope/versions/latest", "", codes.NotFound},
		{"unknown version is NotFound", "projects/p/secrets/cron/versions/7", "", codes.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := res.Resolve(ctx, tt.ref)
			if tt.wantCode == codes.OK {
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				if got != tt.want {
					t.Errorf("Resolve = %q, want %q", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Resolve = %q, want %v error", got, tt.wantCode)
			}
			if got != "" {
				t.Errorf("Resolve returned %q with its error", got)
			}
			if c := status.Code(err); c != tt.wantCode {
				t.Errorf("status code = %v (%v), want %v", c, err, tt.wantCode)
			}
			if !strings.Contains(err.Error(), tt.ref) {
				t.Errorf("error %q does not name %s", err, tt.ref)
			}
		})
	}
}

// Load end to end: secret references in the environment are resolved through
// the real SecretManager resolver talking gRPC to the fake.
func TestLoadWithSecretManager(t *testing.T) {
	const (
		sessRef   = "projects/owlette-prod/secrets/session-secret/versions/latest"
		cronRef   = "projects/owlette-prod/secrets/cron-secret/versions/latest"
		cortexRef = "projects/owlette-prod/secrets/cortex/versions/1"
	)
	fake := &fakeSecretManager{secrets: map[string]string{
		sessRef:   "a-session-secret-that-is-long-enough-1234",
		cronRef:   "cron-from-sm",
		cortexRef: "cortex-from-sm",
	}}
	res := config.SecretManager{Client: startFakeSecretManager(t, fake)}
	env := with(prod,
		"SESSION_SECRET", "secret://"+sessRef,
		"CRON_SECRET", "secret://"+cronRef,
		"CORTEX_INTERNAL_SECRET", "secret://"+cortexRef,
	)
	if !config.NeedsResolver(envOf(env)) {
		t.Fatal("NeedsResolver = false for an environment with references")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	t.Run("resolved", func(t *testing.T) {
		c, err := config.Load(ctx, envOf(env), res)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		eq(t, "Env", c.Env, "production")
		eq(t, "SessionSecret", c.SessionSecret, "a-session-secret-that-is-long-enough-1234")
		eq(t, "CronSecret", c.CronSecret, "cron-from-sm")
		eq(t, "CortexSecret", c.CortexSecret, "cortex-from-sm")
		eq(t, "MFAEncryptionKey (by value)", c.MFAEncryptionKey, "mfa-key")
	})

	t.Run("missing secret fails Load", func(t *testing.T) {
		bad := with(env, "CRON_SECRET", "secret://projects/owlette-prod/secrets/gone/versions/latest")
		_, err := config.Load(ctx, envOf(bad), res)
		if err == nil {
			t.Fatal("Load succeeded with a reference to a missing secret")
		}
		if status.Code(err) != codes.NotFound {
			t.Errorf("error %q does not carry NotFound", err)
		}
		for _, w := range []string{"CRON_SECRET", "gone"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not mention %q", err, w)
			}
		}
	})

	fake.mu.Lock()
	defer fake.mu.Unlock()
	want := map[string]bool{sessRef: true, cronRef: true, cortexRef: true}
	for _, n := range fake.asked {
		if !want[n] && !strings.Contains(n, "/gone/") {
			t.Errorf("fake was asked for unexpected name %q", n)
		}
	}
	if len(fake.asked) < 3 {
		t.Errorf("fake was asked %d times, want at least 3: %q", len(fake.asked), fake.asked)
	}
}
