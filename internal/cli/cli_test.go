package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/internal/state/statetest"
	talosfake "github.com/cto-platform/cto/internal/talos/fake"
	"github.com/cto-platform/cto/test/s3store"
)

// run drives cto in-process and returns the exit code and both streams.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Run(context.Background(), Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, args)
	return code, out.String(), errOut.String()
}

func TestEveryFlagIsExplained(t *testing.T) {
	root := newRootCmd(Streams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Short == "" {
			t.Errorf("command %q has no short help", c.CommandPath())
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if len(strings.TrimSpace(f.Usage)) < 10 {
				t.Errorf("%s --%s has no real explanation: %q", c.CommandPath(), f.Name, f.Usage)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	for _, cmd := range []string{"deploy", "destroy", "status", "plans", "regions", "kubeconfig", "init", "version"} {
		code, out, _ := run(t, cmd, "--help")
		if code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("cto %s --help: exit %d\n%s", cmd, code, out)
		}
	}
}

func TestBadInputExitsTwoWithOneLine(t *testing.T) {
	dir := t.TempDir()
	writeFile := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	header := "apiVersion: cto.dev/v1alpha1\nkind: Cluster\n"
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"deploy", "--provider", "bogus"}, `provider "bogus" is not supported`},
		{[]string{"deploy", "--nodes", "0"}, `nodes "0" must be at least 1`},
		{[]string{"deploy", "--nodes", "4", "--control-planes", "2"}, `controlPlanes "2" must be 1, 3 or 5`},
		{[]string{"deploy", "--name", "Bad_Name"}, `name "Bad_Name" must be a DNS label`},
		{[]string{"deploy", "--until", "nowhere"}, `--until "nowhere" is not a step`},
		{[]string{"deploy", "--nodes", "many"}, `invalid argument "many"`},
		{[]string{"deploy", "--no-such-flag"}, `unknown flag: --no-such-flag`},
		{[]string{"deploy", "-f", writeFile("typo.yaml", header+"name: demo\nnodez: 3\n")}, `nodez is not a known key`},
		{[]string{"deploy", "-f", writeFile("even.yaml", header+"name: demo\nnodes: 4\ncontrolPlanes: 4\n")}, `controlPlanes "4" must be 1, 3 or 5`},
		{[]string{"deploy", "-f", writeFile("name.yaml", header+"name: -x-\n")}, `name "-x-" must be a DNS label`},
		{[]string{"deploy", "-f", filepath.Join(dir, "missing.yaml")}, `cannot be read`},
		{[]string{"status", "-o", "yaml"}, `--output "yaml" is not a format`},
		{[]string{"status", "-q", "-v"}, `--quiet and --verbose ask for opposite things`},
		{[]string{"plans"}, `--provider is required`},
		{[]string{"plans", "--provider", "local"}, `has no plans`},
		{[]string{"status", "--name", "absent"}, `no cluster "absent"`},
		{[]string{"destroy", "--name", "absent"}, "--provider <p>` sweeps"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			args := append([]string{"--state-dir", filepath.Join(dir, "state")}, c.args...)
			code, _, stderr := run(t, args...)
			if code != ExitBadInput {
				t.Fatalf("exit %d, want 2; stderr: %s", code, stderr)
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Fatalf("more than one line:\n%s", stderr)
			}
			if !strings.Contains(stderr, c.want) {
				t.Fatalf("stderr %q does not say %q", stderr, c.want)
			}
		})
	}
	// Bad input creates nothing.
	if names, _ := state.List(filepath.Join(dir, "state")); len(names) != 0 {
		t.Fatalf("bad input created cluster folders: %v", names)
	}
}

func TestInitWritesAValidStarter(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cluster.yaml")
	if code, _, stderr := run(t, "init", "--file", path); code != 0 {
		t.Fatalf("init: %d %s", code, stderr)
	}
	if code, _, stderr := run(t, "init", "--file", path); code != ExitBadInput || !strings.Contains(stderr, "already exists") {
		t.Fatalf("init over an existing file: %d %s", code, stderr)
	}
	// The starter names a provider that needs credentials; --dry-run with a
	// bogus override proves the file itself parses and validates.
	code, _, stderr := run(t, "--state-dir", dir, "deploy", "-f", path, "--provider", "bogus")
	if code != ExitBadInput || !strings.Contains(stderr, `provider "bogus"`) || strings.Contains(stderr, "cluster.yaml") {
		t.Fatalf("deploy -f starter: %d %s", code, stderr)
	}
}

func TestVersionJSON(t *testing.T) {
	code, out, _ := run(t, "version", "-o", "json")
	if code != 0 || !strings.Contains(out, `"version":"dev"`) {
		t.Fatalf("version -o json: %d %s", code, out)
	}
}

// TestMain lets a test run this binary as a child that holds a cluster lock.
func TestMain(m *testing.M) {
	s3store.MaybeServe()
	statetest.MaybeHoldLock()
	// No test reaches the public Image Factory: deploys ask this one
	// unless a test names its own.
	factory := httptest.NewServer(talosfake.NewFactory())
	os.Setenv("CTO_IMAGE_FACTORY_URL", factory.URL)
	// Commands that write outside a cluster (the plans cache) stay out of
	// the home folder.
	if os.Getenv("CTO_HOME") == "" {
		home, err := os.MkdirTemp("", "cto-cli-test-")
		if err != nil {
			os.Exit(5)
		}
		os.Setenv("CTO_HOME", home)
		code := m.Run()
		os.RemoveAll(home)
		removeBuiltCTO()
		os.Exit(code)
	}
	code := m.Run()
	removeBuiltCTO()
	os.Exit(code)
}

func TestLockHeldByAnotherProcess(t *testing.T) {
	root := t.TempDir()
	child := statetest.StartLockHolder(t, root, "demo")
	for _, args := range [][]string{
		{"deploy", "--name", "demo", "--provider", "latitude", "--yes"},
		{"destroy", "--name", "demo", "--yes"},
	} {
		code, _, stderr := run(t, append([]string{"--state-dir", root}, args...)...)
		if code == 0 {
			t.Fatalf("%v succeeded while another process held the lock", args)
		}
		if !strings.Contains(stderr, fmt.Sprintf("process %d", child.Process.Pid)) {
			t.Fatalf("%v: lock error does not name PID %d: %s", args, child.Process.Pid, stderr)
		}
	}
}
