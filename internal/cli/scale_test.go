package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
)

// scale and replace refuse bad input with exit 2 and one line, before
// anything runs, and leave the journal as it was.
func TestScaleAndReplaceRefuseBadInput(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s := spec.Defaults()
	s.Name, s.Provider, s.Kubeconfig = "ext", "existing", "/nowhere"
	c, err := state.Open(dir, s.Name, true)
	if err != nil {
		t.Fatal(err)
	}
	j := state.NewJournal(s.Name)
	j.Spec, _ = json.Marshal(s)
	if err := c.Save(j); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"scale", "--name", "absent", "--workers", "3"}, `no cluster "absent"`},
		{[]string{"scale", "--name", "ext", "--workers", "3"}, `cluster "ext" runs on existing`},
		{[]string{"scale", "--name", "ext"}, "say what to change"},
		{[]string{"scale", "--name", "ext", "--workers", "-1"}, "--workers -1"},
		{[]string{"scale", "--name", "ext", "--control-planes", "-3"}, "--control-planes -3"},
		{[]string{"scale", "--name", "ext", "--workers", "2", "--drain-timeout", "0s"}, "--drain-timeout 0s"},
		{[]string{"scale", "--name", "ext", "--workers", "2", "--max-monthly-cost", "-5"}, "--max-monthly-cost -5"},
		{[]string{"scale", "--name", "ext", "--workers", "many"}, `invalid argument "many"`},
		{[]string{"replace", "--name", "ext"}, "--node NAME"},
		{[]string{"replace", "--name", "absent", "--node", "absent-cp1"}, `no cluster "absent"`},
		{[]string{"replace", "--name", "ext", "--node", "ext-cp1"}, `cluster "ext" runs on existing`},
		{[]string{"replace", "--name", "ext", "--node", "x", "extra"}, `unknown command "extra"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := run(t, append([]string{"--state-dir", dir}, tc.args...)...)
			if code != ExitBadInput {
				t.Fatalf("exit %d, want 2; stderr: %s", code, stderr)
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Fatalf("more than one line:\n%s", stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Fatalf("stderr %q does not say %q", stderr, tc.want)
			}
		})
	}
	if names, _ := state.List(dir); len(names) != 1 {
		t.Errorf("bad input created cluster folders: %v", names)
	}
	if got, err := c.Load(); err != nil || got.FactsCopy().Operation != "" {
		t.Errorf("the journal changed: %v, operation %q", err, got.FactsCopy().Operation)
	}
}
