package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every command refuses invalid flags, values and words with exit 2, one
// line naming what is wrong, and nothing created: no state folder, no file
// in the working folder.
func TestEveryCommandRefusesBadInput(t *testing.T) {
	for _, name := range []string{"LATITUDESH_AUTH_TOKEN", "LATITUDE_API_KEY", "VULTR_API_KEY", "HCLOUD_TOKEN", "HETZNER_ROBOT_USER",
		"HETZNER_ROBOT_PASSWORD", "CLOUDFLARE_API_TOKEN", "CTO_LICENSE", "CTO_HOME", "KUBECONFIG"} {
		t.Setenv(name, "")
	}
	work := t.TempDir()
	t.Chdir(work)
	stateDir := filepath.Join(work, "state")
	home := t.TempDir()
	t.Setenv("HOME", home)

	cases := []struct {
		args []string
		want string
	}{
		// every command: an unknown flag, a word it does not take
		{[]string{"deploy", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"destroy", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"status", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"plans", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"regions", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"kubeconfig", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"init", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"version", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"license", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"license", "verify", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"license", "show", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"completion", "bash", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"deploy", "extra"}, `unknown command "extra" for "cto deploy"`},
		{[]string{"destroy", "extra"}, `unknown command "extra" for "cto destroy"`},
		{[]string{"status", "extra"}, `unknown command "extra" for "cto status"`},
		{[]string{"plans", "extra"}, `unknown command "extra" for "cto plans"`},
		{[]string{"regions", "extra"}, `unknown command "extra" for "cto regions"`},
		{[]string{"kubeconfig", "extra"}, `unknown command "extra" for "cto kubeconfig"`},
		{[]string{"init", "extra"}, `unknown command "extra" for "cto init"`},
		{[]string{"version", "extra"}, `unknown command "extra" for "cto version"`},
		{[]string{"license", "extra"}, `unknown command "extra" for "cto license"; use one of show, verify`},
		{[]string{"license", "show", "extra"}, `unknown command "extra" for "cto license show"`},
		{[]string{"completion", "fish2"}, `unknown command "fish2" for "cto completion"; use one of bash, fish, powershell, zsh`},
		{[]string{"completion", "bash", "extra"}, `unknown command "extra" for "cto completion bash"`},
		{[]string{"nosuchcommand"}, `unknown command "nosuchcommand" for "cto"`},
		// global flags on any command
		{[]string{"version", "-o", "yaml"}, `--output "yaml" is not a format`},
		{[]string{"status", "--verbose=x"}, `invalid argument "x" for "-v, --verbose"`},
		{[]string{"plans", "--state-dir"}, "flag needs an argument: --state-dir"},
		// deploy: flags of the wrong type, values out of range
		{[]string{"deploy", "--nodes", "many"}, `invalid argument "many" for "--nodes"`},
		{[]string{"deploy", "--nodes", "-1"}, `nodes "-1" must be at least 1`},
		{[]string{"deploy", "--timeout", "soon"}, `invalid argument "soon" for "--timeout"`},
		{[]string{"deploy", "--timeout", "-5s"}, `platform.timeout "-5s" must be a positive duration`},
		{[]string{"deploy", "--provider", "latitude", "--plan", "c2-small-x86", "--region", "DAL", "--timeout", "0s", "--yes"}, `platform.timeout "0s" must be a positive duration`},
		{[]string{"deploy", "--gpu=x"}, `invalid argument "x" for "--gpu"`},
		{[]string{"deploy", "--max-monthly-cost", "-5"}, `maxMonthlyCost "-5" must be 0`},
		{[]string{"deploy", "--fallback-regions"}, "flag needs an argument: --fallback-regions"},
		{[]string{"deploy", "--profile", "huge"}, `profile "huge" is not a profile`},
		{[]string{"deploy", "--name", "Bad_Name"}, `name "Bad_Name" must be a DNS label`},
		{[]string{"deploy", "--provider", "latitude", "--plan", "c2-small-x86", "--region", "DAL", "--private-cidr", "300.0.0.0/8"}, `network.cidr "300.0.0.0/8" is not a CIDR`},
		{[]string{"deploy", "--provider", "existing"}, "kubeconfig is required with provider existing"},
		{[]string{"deploy", "--provider", "latitude", "--plan", "c2-small-x86", "--region", "DAL", "--yes"}, "provider latitude needs a license"},
		{[]string{"deploy", "--until", "nowhere"}, `--until "nowhere" is not a step`},
		{[]string{"deploy", "-f", filepath.Join(work, "missing.yaml")}, "cannot be read"},
		// destroy
		{[]string{"destroy", "--name", "Bad_X"}, `cluster name "Bad_X" is not a DNS label`},
		{[]string{"destroy", "--yes=maybe"}, `invalid argument "maybe" for "-y, --yes"`},
		{[]string{"destroy", "--name", "absent"}, "--provider <p>` sweeps"},
		{[]string{"destroy", "--name", "absent", "--provider", "nope"}, `provider "nope" is not available`},
		{[]string{"destroy", "--name", "absent", "--provider", "latitude"}, "no Latitude.sh API token"},
		// status, kubeconfig
		{[]string{"status", "--name", "Bad_X"}, `cluster name "Bad_X" is not a DNS label`},
		{[]string{"status", "--all=x"}, `invalid argument "x" for "--all"`},
		{[]string{"status", "--name", "absent"}, `no cluster "absent"`},
		{[]string{"kubeconfig", "--name", "Bad_X"}, `cluster name "Bad_X" is not a DNS label`},
		{[]string{"kubeconfig", "--merge=2"}, `invalid argument "2" for "--merge"`},
		{[]string{"kubeconfig", "--name", "absent"}, `no cluster "absent"`},
		// plans, regions
		{[]string{"plans"}, "--provider is required"},
		{[]string{"plans", "--provider", "nope"}, `--provider "nope" has no plans`},
		{[]string{"plans", "--provider", "latitude", "--min-ram", "-1"}, "--min-ram -1 must be 0 or more"},
		{[]string{"plans", "--provider", "latitude", "--min-ram", "lots"}, `invalid argument "lots" for "--min-ram"`},
		{[]string{"plans", "--provider", "latitude", "--region"}, "flag needs an argument: --region"},
		{[]string{"plans", "--provider", "latitude"}, "no Latitude.sh API token"},
		{[]string{"regions", "--provider", "nope"}, `--provider "nope"`},
		{[]string{"regions", "--provider", "vultr"}, "VULTR_API_KEY is not set"},
		// init
		{[]string{"init", "--file", filepath.Join(work, "no-such-dir", "x.yaml")}, "its folder does not exist"},
		{[]string{"init", "--force=x"}, `invalid argument "x" for "--force"`},
		{[]string{"init", "--file"}, "flag needs an argument: --file"},
		// license
		{[]string{"license", "verify", "--license", filepath.Join(work, "no-such-license")}, "cannot be read"},
		{[]string{"license", "show", "--license", "garbage"}, "cannot be read"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			args := append([]string{"--state-dir", stateDir}, c.args...)
			code, stdout, stderr := run(t, args...)
			if code != ExitBadInput {
				t.Fatalf("exit %d, want 2\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.HasPrefix(stderr, "ERROR: ") {
				t.Fatalf("want one ERROR line, got:\n%s", stderr)
			}
			if !strings.Contains(stderr, c.want) {
				t.Fatalf("stderr %q does not say %q", stderr, c.want)
			}
			if stdout != "" {
				t.Errorf("bad input printed to stdout: %q", stdout)
			}
		})
	}
	for _, dir := range []string{work, home} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			t.Errorf("bad input created %s", filepath.Join(dir, e.Name()))
		}
	}
}
