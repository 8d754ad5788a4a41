package faults

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// insecureAllowed are the only non-test files that may turn certificate or
// host-key checks off, and why.
var insecureAllowed = map[string][]string{
	// Maintenance mode serves a self-signed certificate: there is nothing
	// to verify. Only Apply and Disks use that client; the node is then
	// trusted only after an authenticated Version call over mutual TLS
	// (Probe), which TestInsecureTalosCallsAreMaintenanceOnly pins.
	"internal/talos/client.go": {"InsecureSkipVerify"},
	// A rescue system's SSH host key is generated at its boot and
	// published nowhere; the connection only writes the Talos image.
	"internal/provider/hetzner/rescue/rescue.go": {"InsecureIgnoreHostKey"},
	// Test doubles and the test API server, never part of cto's binary.
	"internal/talos/fake/node.go": {"insecure-skip-tls-verify"},
	"test/kubeenv/kubeenv.go":     {"InsecureSkipVerify", "insecure-skip-tls-verify"},
}

func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// TLS verification is never disabled outside the allowed list.
func TestTLSVerificationOffOnlyWhereAllowed(t *testing.T) {
	root := repoRoot(t)
	found := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		for _, marker := range []string{"InsecureSkipVerify", "insecure-skip-tls-verify", "InsecureIgnoreHostKey", "Insecure: true"} {
			if strings.Contains(string(data), marker) {
				found[rel] = true
				if !slices.Contains(insecureAllowed[rel], marker) {
					t.Errorf("%s turns verification off (%s) and is not on the allowed list", rel, marker)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for file := range insecureAllowed {
		if !found[file] {
			t.Errorf("%s is allowed to turn verification off but no longer does: drop it from the list", file)
		}
	}
}

// The Talos client's insecure connection serves only the calls of
// maintenance mode.
func TestInsecureTalosCallsAreMaintenanceOnly(t *testing.T) {
	path := filepath.Join(repoRoot(t), "internal", "talos", "client.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var callers []string
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok {
				if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "insecure" && !slices.Contains(callers, fn.Name.Name) {
					callers = append(callers, fn.Name.Name)
				}
			}
			return true
		})
	}
	slices.Sort(callers)
	if want := []string{"Apply", "Disks"}; !slices.Equal(callers, want) {
		t.Errorf("functions using the insecure Talos connection: %v, want only %v", callers, want)
	}
}
