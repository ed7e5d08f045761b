package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// pebbleOpenAllowed lists the packages that may call pebble.Open directly:
// internal/pebbledb, which every daemon opens its database through, and
// rollup, whose scratch databases live in memory (no disk to fill).
var pebbleOpenAllowed = map[string]bool{"internal/pebbledb": true, "rollup": true}

// Every database on disk is opened through internal/pebbledb and every batch
// committed through its DB.Commit: pebble's own Batch.Commit bypasses the
// reserve and turns a full disk at the log into a crash of the daemon
// (docs/DISKFULL.md). A pebble.Open elsewhere, or a batch's
// Commit(pebble.Sync) / Commit(pebble.NoSync), fails this test with the file
// and line to change.
func TestPebbleGoesThroughPebbledb(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		pkg := filepath.ToSlash(filepath.Dir(rel))
		if pkg == "internal/pebbledb" {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		name := pebbleImportName(f)
		if name == "" {
			return nil
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			pos := fset.Position(call.Pos())
			where := filepath.ToSlash(rel) + ":" + strconv.Itoa(pos.Line)
			if isIdent(sel.X, name) && sel.Sel.Name == "Open" && !pebbleOpenAllowed[pkg] {
				t.Errorf("%s: pebble.Open; open the database with internal/pebbledb.Open", where)
			}
			if sel.Sel.Name == "Commit" && len(call.Args) == 1 {
				if arg, ok := call.Args[0].(*ast.SelectorExpr); ok && isIdent(arg.X, name) {
					t.Errorf("%s: a batch committed with its own Commit; use db.Commit(b, %s.%s) of internal/pebbledb", where, name, arg.Sel.Name)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no file imports pebble: the test looked in the wrong place")
	}
}

// pebbleImportName is the name f imports github.com/cockroachdb/pebble as,
// or "" if it does not.
func pebbleImportName(f *ast.File) string {
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == "github.com/cockroachdb/pebble" {
			if imp.Name != nil {
				return imp.Name.Name
			}
			return "pebble"
		}
	}
	return ""
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}
