package llmconfig_test

import (
	"context"
	"errors"
	"testing"

	"github.com/owlette/server/shared/llm"
	"github.com/owlette/server/shared/llmconfig"
	"github.com/owlette/server/shared/testenv"
)

// Fixed vectors sealed by Node's own crypto (testdata/nodebox.mjs, written
// from api.md §1.9, independent of our Go code), made once with
//
//	echo '[{"op":"seal","secret":"owlette-vector-llm-key","plaintext":"sk-ant-api03-vector-ÅÉ-0123456789"},
//	       {"op":"seal","secret":"owlette-vector-mfa-key","plaintext":"sk-proj-vector-fallback"}]' |
//	  node shared/llmconfig/testdata/nodebox.mjs
//
// They are keys as the original server stores them: these tests prove that
// such a stored key opens here, without Node. (node_test.go repeats the
// check with fresh values in both directions.)
var vectors = []struct {
	name, secret, plaintext, sealed string
}{
	{"LLM key, non-ASCII plaintext", "owlette-vector-llm-key", "sk-ant-api03-vector-ÅÉ-0123456789",
		"zKrRgoaWS7fq8lNZLs2DYg==:dbMxqYtDyUrnDEKk:BAcw3iwdE6bVuUxp1R90Yw==:rn+TJVM6FMMWyEiZp26gOMN40LlJShNhbl3O4SSNp/TniOs="},
	{"MFA key fallback", "owlette-vector-mfa-key", "sk-proj-vector-fallback",
		"N0s6g84LK/TA6ok5hJceyw==:aiOiAxE/2Yy8CWfJ:DoErEgAMdefoUsF7+jWBUA==:y2ZM/ckqSpL9Vrn2IDJiEYE7TiDtx0E="},
}

func TestOpenNodeVectors(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			got, err := llmconfig.Open(withKey(v.secret), v.sealed)
			if err != nil || got != v.plaintext {
				t.Fatalf("Open = %q, %v; want %q", got, err, v.plaintext)
			}
			if _, err := llmconfig.Open(withKey(v.secret+"x"), v.sealed); !errors.Is(err, llmconfig.ErrUndecryptable) {
				t.Errorf("wrong secret: %v, want ErrUndecryptable", err)
			}
		})
	}
}

// TestResolveNodeVector stores the vectors as the original would have
// (a site key; a user key under MFA_ENCRYPTION_KEY alone) and resolves them.
func TestResolveNodeVector(t *testing.T) {
	fs, _ := testenv.Firestore(t)
	ctx := context.Background()
	v := vectors[0]
	put(t, llmconfig.SiteSettings(fs, "site-a"), map[string]any{"provider": "anthropic", "apiKeyEncrypted": v.sealed, "model": nil})
	got, err := llmconfig.Resolve(ctx, fs, withKey(v.secret), llmconfig.ModeAutonomous, "", "site-a")
	if err != nil {
		t.Fatal(err)
	}
	want := llmconfig.Resolved{Provider: llm.Anthropic, APIKey: v.plaintext, Model: llm.DefaultAnthropicModel, Source: llmconfig.SourceSite}
	if got != want {
		t.Errorf("Resolve = %+v, want %+v", got, want)
	}

	// MFA_ENCRYPTION_KEY alone opens LLM keys (api.md §1.9 fallback).
	v = vectors[1]
	put(t, llmconfig.UserSettings(fs, "u1"), map[string]any{"provider": "openai", "apiKeyEncrypted": v.sealed, "model": "gpt-4o"})
	got, err = llmconfig.Resolve(ctx, fs, loadLLM(t, "MFA_ENCRYPTION_KEY", v.secret), llmconfig.ModeUser, "u1", "site-a")
	if err != nil {
		t.Fatal(err)
	}
	want = llmconfig.Resolved{Provider: llm.OpenAI, APIKey: v.plaintext, Model: "gpt-4o", Source: llmconfig.SourceUser}
	if got != want {
		t.Errorf("Resolve = %+v, want %+v", got, want)
	}
}
