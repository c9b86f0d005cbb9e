package registry_test

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/owlette/server/functions/registry"
	"github.com/owlette/server/shared/config"
)

const module = "github.com/owlette/server/"

// TestFunctionsReadOnlyDeclaredConfig type-checks each function's own code
// and fails on every read of a configuration group its Spec does not
// declare (fn.Spec.Config). Reads in shared code, which depend on the path
// taken, are caught at run time instead: an undeclared group is nil, and
// each function's tests run with only its own groups (apptest.Config).
func TestFunctionsReadOnlyDeclaredConfig(t *testing.T) {
	var pkgs []string
	for _, s := range registry.All {
		pkgs = append(pkgs, module+s.Package())
	}
	exports := exportData(t, pkgs)
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		f, ok := exports[path]
		if !ok {
			return nil, os.ErrNotExist
		}
		return os.Open(f)
	})
	for _, s := range registry.All {
		dir := filepath.Join("..", strings.TrimPrefix(s.Package(), "functions/"))
		files := parseDir(t, fset, dir)
		info := &types.Info{Selections: map[*ast.SelectorExpr]*types.Selection{}}
		if _, err := (&types.Config{Importer: imp}).Check(module+s.Package(), fset, files, info); err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		var bad []string
		for expr, sel := range info.Selections {
			if g := configGroup(sel); g != config.None && !s.Config.Has(g) {
				bad = append(bad, fmt.Sprintf("%s: %s reads %s (group %v), which its Spec.Config (%v) does not declare",
					s.Name, fset.Position(expr.Sel.Pos()), expr.Sel.Name, g, s.Config))
			}
		}
		slices.Sort(bad)
		for _, b := range bad {
			t.Error(b)
		}
	}
}

// configGroup is the configuration group a selection reads: for a field or
// method of config.Config, the group of the Config field it goes through
// (None for the Base).
func configGroup(sel *types.Selection) config.Groups {
	recv := sel.Recv()
	if p, ok := recv.(*types.Pointer); ok {
		recv = p.Elem()
	}
	named, ok := recv.(*types.Named)
	if !ok || named.Obj().Pkg() == nil || named.Obj().Pkg().Path() != module+"shared/config" || named.Obj().Name() != "Config" {
		return config.None
	}
	st := named.Underlying().(*types.Struct)
	if sel.Kind() == types.FieldVal || len(sel.Index()) > 1 {
		return config.Of(st.Field(sel.Index()[0]).Name())
	}
	return config.Of(sel.Obj().Name()) // a method of Config itself
}

// parseDir parses the package's non-test files.
func parseDir(t *testing.T, fset *token.FileSet, dir string) []*ast.File {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// exportData maps every dependency of pkgs to its compiled export data
// (`go list -export`, served from the build cache).
func exportData(t *testing.T, pkgs []string) map[string]string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-deps", "-export", "-f", "{{.ImportPath}}\t{{.Export}}"}, pkgs...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if path, file, ok := strings.Cut(sc.Text(), "\t"); ok && file != "" {
			m[path] = file
		}
	}
	return m
}
