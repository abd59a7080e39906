// Package docs_test keeps the documentation in step with the code.
package docs_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var metricName = regexp.MustCompile(`^barelb_[a-z0-9_]+$`)

// TestMetricsDocListsEverything fails when a metric or an Event/condition
// reason defined in the code is missing from metrics.md, or when metrics.md
// names a barelb_ metric the code no longer has.
func TestMetricsDocListsEverything(t *testing.T) {
	doc, err := os.ReadFile("metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	metrics, reasons := collect(t, "..")
	if len(metrics) < 5 || len(reasons) < 5 {
		t.Fatalf("found only %d metrics and %d reasons in the code: the collector is broken", len(metrics), len(reasons))
	}
	for _, name := range append(metrics, reasons...) {
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/metrics.md does not mention `%s`", name)
		}
	}
	for _, m := range regexp.MustCompile("`(barelb_[a-z0-9_]+)`").FindAllStringSubmatch(string(doc), -1) {
		if !slices.Contains(metrics, m[1]) {
			t.Errorf("docs/metrics.md lists `%s`, which no code defines", m[1])
		}
	}
}

// collect returns the metric names defined in the non-test Go files under
// root (the Name of a metric's options, the name given to NewDesc) and the
// string constants of the Event and condition reasons of internal/contract/,
// where the CCM and the node helpers take them from.
func collect(t *testing.T, root string) (metrics, reasons []string) {
	t.Helper()
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "bin" || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		reasonFile := strings.HasPrefix(rel, filepath.Join("internal", "contract")+string(filepath.Separator))
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.KeyValueExpr:
				if k, ok := n.Key.(*ast.Ident); ok && k.Name == "Name" {
					if s, ok := stringLit(n.Value); ok && metricName.MatchString(s) {
						metrics = appendNew(metrics, s)
					}
				}
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "NewDesc" && len(n.Args) > 0 {
					if s, ok := stringLit(n.Args[0]); ok && metricName.MatchString(s) {
						metrics = appendNew(metrics, s)
					}
				}
			case *ast.ValueSpec:
				if !reasonFile {
					return true
				}
				for i, id := range n.Names {
					if !strings.HasPrefix(id.Name, "Reason") && !strings.HasPrefix(id.Name, "ConditionReason") && id.Name != "ConditionAnnounced" {
						continue
					}
					if i < len(n.Values) {
						if s, ok := stringLit(n.Values[i]); ok {
							reasons = appendNew(reasons, s)
						}
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return metrics, reasons
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
