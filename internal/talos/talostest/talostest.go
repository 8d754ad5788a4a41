// Package talostest holds what tests that render Talos configs share.
package talostest

import (
	_ "embed"
	"testing"

	"github.com/cto-platform/cto/internal/talos"
)

//go:embed testdata/secrets.yaml
var secretsYAML []byte

// FixedSecrets is a committed secrets bundle, so the rendered configs are
// stable between runs.
func FixedSecrets(t testing.TB) *talos.Secrets {
	t.Helper()
	s, err := talos.ParseSecrets(secretsYAML)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
