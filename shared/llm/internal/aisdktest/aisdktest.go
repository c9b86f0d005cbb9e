// Package aisdktest runs tools/ai-uistream.mjs, the bridge to the real AI SDK
// (`ai` in tools/node_modules), for the golden tests of package llm and
// uistream. Without node or the package the tests fail rather than skip:
// byte compatibility with the dashboard's SDK is the point of those tests.
package aisdktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// ToolsDir returns the repository's tools/ directory, failing t when node
// or the ai package is missing.
func ToolsDir(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "tools")
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is not on PATH (%v): the AI SDK golden tests need Node; run them with `make test`", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ai-uistream.mjs")); err != nil {
		t.Fatalf("missing tools/ai-uistream.mjs: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ai", "package.json")); err != nil {
		t.Fatalf("the ai package is not installed in %s/node_modules (%v): run `npm ci` in tools/", dir, err)
	}
	return dir
}

// Response is what the stream-text and ui-stream commands return.
type Response struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// Read is what the read command returns.
type Read struct {
	Message json.RawMessage   `json:"message"`
	Chunks  []json.RawMessage `json:"chunks"`
	Errors  []string          `json:"errors"`
}

// Run sends cmds to the script in one node process and returns one raw
// result per command.
func Run(t testing.TB, cmds ...any) []json.RawMessage {
	t.Helper()
	dir := ToolsDir(t)
	in, err := json.Marshal(cmds)
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command("node", "ai-uistream.mjs")
	c.Dir = dir
	c.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		t.Fatalf("node ai-uistream.mjs: %v\n%s\ninput: %s", err, stderr.String(), in)
	}
	var out []json.RawMessage
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || len(out) != len(cmds) {
		t.Fatalf("ai-uistream.mjs printed %q (%v), want a JSON array of %d results", stdout.String(), err, len(cmds))
	}
	return out
}

// Responses runs stream-text / ui-stream commands.
func Responses(t testing.TB, cmds ...any) []Response {
	t.Helper()
	raw := Run(t, cmds...)
	out := make([]Response, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r, &out[i]); err != nil {
			t.Fatalf("result %d: %v", i, err)
		}
	}
	return out
}

// Reads runs read commands.
func Reads(t testing.TB, cmds ...any) []Read {
	t.Helper()
	raw := Run(t, cmds...)
	out := make([]Read, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r, &out[i]); err != nil {
			t.Fatalf("result %d: %v", i, err)
		}
	}
	return out
}

// JSONEqual fails t unless got and want hold the same JSON value.
func JSONEqual(t testing.TB, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want invalid JSON %s: %v", want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Errorf("got  %s\nwant %s", gb, wb)
	}
}

// FrameDiff shows the first SSE frame where our stream and the SDK's part.
func FrameDiff(ours, sdk string) string {
	al, bl := strings.SplitAfter(ours, "\n\n"), strings.SplitAfter(sdk, "\n\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("first difference at frame %d:\n ours %s\n sdk  %s", i, strings.TrimSpace(x), strings.TrimSpace(y))
		}
	}
	return "no difference"
}
