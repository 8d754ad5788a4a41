// Package statetest makes cluster folders for tests.
package statetest

import (
	"testing"

	"github.com/cto-platform/cto/internal/state"
)

// New creates the cluster folder name under dir with an empty journal on
// disk, as a first deploy starts, and returns both.
func New(t testing.TB, dir, name string) (*state.Cluster, *state.Journal) {
	t.Helper()
	c, err := state.Open(dir, name, true)
	if err != nil {
		t.Fatal(err)
	}
	j, err := c.Load()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Save(j); err != nil {
		t.Fatal(err)
	}
	return c, j
}
