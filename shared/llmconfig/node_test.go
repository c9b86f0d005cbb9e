package llmconfig_test

// Cross-implementation test against Node's own crypto through
// testdata/nodebox.mjs (node:crypto only, no packages). Like the
// iron-session tests it fails rather than skips without node: keys stored by
// the original server staying readable is the point of the format.

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/owlette/server/shared/llmconfig"
)

type nodeCmd map[string]string

// runNode runs the commands through nodebox.mjs in one process.
func runNode(t *testing.T, cmds ...nodeCmd) []string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is not on PATH (%v): this compatibility test needs Node; run it with `make test`", err)
	}
	in, err := json.Marshal(cmds)
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command("node", "nodebox.mjs")
	c.Dir = "testdata"
	c.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		t.Fatalf("node nodebox.mjs: %v\n%s", err, stderr.String())
	}
	var out []string
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || len(out) != len(cmds) {
		t.Fatalf("nodebox.mjs printed %q (%v), want %d results", stdout.String(), err, len(cmds))
	}
	return out
}

func TestNodeCompatibility(t *testing.T) {
	const secret = "node-compat-secret"
	cfg := withKey(secret)
	plaintexts := []string{"sk-ant-api03-" + strings.Repeat("x", 95), "sk-proj-abc", "ключ-🔑", ""}

	// Go seals, Node opens: the original server (or a rollback) reads keys
	// we store.
	var cmds []nodeCmd
	for _, p := range plaintexts {
		sealed, err := llmconfig.Seal(cfg, p)
		if err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, nodeCmd{"op": "open", "secret": secret, "sealed": sealed})
	}
	// Node seals, Go opens: keys the original stored open here.
	for _, p := range plaintexts {
		cmds = append(cmds, nodeCmd{"op": "seal", "secret": secret, "plaintext": p})
	}
	out := runNode(t, cmds...)
	for i, p := range plaintexts {
		if out[i] != p {
			t.Errorf("Node opened our seal of %q as %q", p, out[i])
		}
		sealed := out[len(plaintexts)+i]
		if got, err := llmconfig.Open(cfg, sealed); err != nil || got != p {
			t.Errorf("Open(Node's seal of %q) = %q, %v", p, got, err)
		}
	}
}
