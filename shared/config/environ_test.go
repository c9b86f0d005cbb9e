package config_test

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/logging"
)

// testSupport says whether dir holds code for tests only (harnesses, fakes),
// which may read the environment (the emulator addresses).
func testSupport(dir string) bool {
	base := filepath.Base(dir)
	return base == "testenv" || base == "testdata" || strings.HasSuffix(base, "test") || strings.HasSuffix(base, "fake")
}

// The server's code reads its environment only here: every other package
// of shared/ and functions/ gets its settings from a Config.
func TestOnlyConfigReadsTheEnvironment(t *testing.T) {
	reads := map[string]bool{"os.Getenv": true, "os.LookupEnv": true, "os.Environ": true, "syscall.Getenv": true, "os.ExpandEnv": true}
	fset := token.NewFileSet()
	for _, root := range []string{"../../shared", "../../functions"} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if testSupport(p) || p == filepath.Join("..", "..", "shared", "config") {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if x, ok := sel.X.(*ast.Ident); ok && reads[x.Name+"."+sel.Sel.Name] {
						t.Errorf("%s: %s.%s: read the setting through shared/config", fset.Position(sel.Pos()), x.Name, sel.Sel.Name)
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// FromEnv reads the process environment, sets the log level, and on Cloud
// Run refuses any *_EMULATOR_HOST, even one the Base does not know.
func TestFromEnv(t *testing.T) {
	for k, v := range local {
		t.Setenv(k, v)
	}
	t.Setenv("LOG_LEVEL", "debug")
	t.Cleanup(func() { logging.SetLevel(slog.LevelInfo) })
	c, err := config.FromEnv(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.LogLevel != slog.LevelDebug || !logging.Default().Enabled(context.Background(), slog.LevelDebug) {
		t.Errorf("LOG_LEVEL=debug: level %v", c.LogLevel)
	}
	t.Setenv("LOG_LEVEL", "loud")
	if _, err := config.FromEnv(context.Background()); err == nil || !strings.Contains(err.Error(), "LOG_LEVEL") {
		t.Errorf("LOG_LEVEL=loud: %v", err)
	}
	t.Setenv("LOG_LEVEL", "")
	t.Setenv("K_SERVICE", "sites")
	t.Setenv("SOMETHING_EMULATOR_HOST", "127.0.0.1:1")
	if _, err := config.FromEnv(context.Background()); err == nil || !strings.Contains(err.Error(), "_EMULATOR_HOST") {
		t.Errorf("on Cloud Run with an emulator variable: %v", err)
	}
}
