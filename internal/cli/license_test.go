package cli_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/cli"
	"github.com/cto-platform/cto/internal/license"
	"github.com/cto-platform/cto/internal/license/devkey"
	"github.com/cto-platform/cto/internal/license/licensetest"
	"github.com/cto-platform/cto/internal/state"
)

// licenseFile signs a license expiring at expires and writes it to a file.
func licenseFile(t *testing.T, tier license.Tier, expires time.Time, key ed25519.PrivateKey) string {
	t.Helper()
	return licensetest.File(t, licensetest.Sign(t, license.License{
		ID: "L-" + string(tier), Customer: "Acme", Tier: tier, MaxAgents: 3,
		IssuedAt: time.Now().AddDate(-1, 0, 0), ExpiresAt: expires,
	}, key))
}

// teamLicense is the file of a Team license for the next year, enough for
// the three nodes the deploys in these tests ask for.
func teamLicense(t *testing.T) string {
	t.Helper()
	return licenseFile(t, license.Team, time.Now().AddDate(1, 0, 0), devkey.Key())
}

func rewrite(t *testing.T, path string, change func(string) string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "changed.txt")
	if err := os.WriteFile(out, []byte(change(strings.TrimSpace(string(data)))), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

func oneErrorLine(t *testing.T, stderr, want string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "ERROR: ") || !strings.Contains(lines[0], want) {
		t.Fatalf("stderr should be one ERROR line saying %q, got:\n%s", want, stderr)
	}
}

func TestLicenseVerify(t *testing.T) {
	nextYear := time.Now().AddDate(1, 0, 0)
	team := licenseFile(t, license.Team, nextYear, devkey.Key())
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	wrongKey := licenseFile(t, license.Team, nextYear, other)
	truncated := rewrite(t, team, func(s string) string { return s[:len(s)-12] })
	tampered := rewrite(t, team, func(s string) string {
		parts := strings.Split(s, ".")
		forged := licenseFile(t, license.Enterprise, nextYear, devkey.Key())
		data, _ := os.ReadFile(forged)
		parts[2] = strings.Split(strings.TrimSpace(string(data)), ".")[2]
		return strings.Join(parts, ".")
	})
	expired := licenseFile(t, license.Team, time.Now().AddDate(0, 0, -10), devkey.Key())

	t.Run("valid", func(t *testing.T) {
		code, out, errOut := run(t, "license", "verify", "--license", team)
		if code != 0 || errOut != "" {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		if !strings.HasPrefix(out, "valid: Team license L-team for Acme, up to 3 nodes, expires ") || strings.Count(out, "\n") != 1 {
			t.Fatalf("stdout %q", out)
		}
	})
	for _, c := range []struct{ name, file, says string }{
		{"tampered", tampered, "the license was altered"},
		{"truncated", truncated, "the license is truncated"},
		{"wrong key", wrongKey, "signed with a key this cto does not trust"},
		{"expired past grace", expired, "7-day grace ended on"},
		{"missing file", filepath.Join(t.TempDir(), "nope"), "cannot be read"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := run(t, "license", "verify", "--license", c.file)
			if code != cli.ExitBadInput || out != "" {
				t.Fatalf("exit %d (want 2), stdout %q", code, out)
			}
			oneErrorLine(t, errOut, c.says)
		})
	}
	t.Run("token in CTO_LICENSE", func(t *testing.T) {
		data, _ := os.ReadFile(team)
		t.Setenv("CTO_LICENSE", string(data))
		if code, out, errOut := run(t, "license", "verify"); code != 0 || !strings.HasPrefix(out, "valid: ") {
			t.Fatalf("exit %d: %s%s", code, out, errOut)
		}
	})
	t.Run("none", func(t *testing.T) {
		t.Setenv("CTO_LICENSE", "")
		code, _, errOut := run(t, "license", "verify")
		if code != cli.ExitBadInput {
			t.Fatalf("exit %d", code)
		}
		oneErrorLine(t, errOut, "no license given")
	})
}

func TestLicenseShow(t *testing.T) {
	soon := time.Now().Add(10*24*time.Hour + time.Hour)
	file := licenseFile(t, license.Business, soon, devkey.Key())
	code, out, errOut := run(t, "license", "show", "--license", file, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var v struct {
		ID        string   `json:"license_id"`
		Tier      string   `json:"tier"`
		NodeLimit int      `json:"node_limit"`
		Status    string   `json:"status"`
		Warnings  []string `json:"warnings"`
		DevKey    bool     `json:"development_key"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if v.ID != "L-business" || v.Tier != "business" || v.NodeLimit != 10 || v.Status != "expiring" || !v.DevKey ||
		len(v.Warnings) != 1 || !strings.Contains(v.Warnings[0], "(in 11 days)") {
		t.Fatalf("show: %+v", v)
	}

	code, out, errOut = run(t, "license", "show", "--license", file)
	if code != 0 || !strings.Contains(strings.Join(strings.Fields(out), " "), "Tier Business Nodes 10") || !strings.Contains(errOut, "WARNING: the Business license L-business expires on") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestDeployRefusedByLicenseCreatesNothing(t *testing.T) {
	nextYear := time.Now().AddDate(1, 0, 0)
	team := licenseFile(t, license.Team, nextYear, devkey.Key())
	expired := licenseFile(t, license.Business, time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), devkey.Key())
	cases := []struct {
		name string
		args []string
		says string
	}{
		{"team license, 4 nodes", []string{"--provider", "latitude", "--nodes", "4", "--license", team},
			"4 nodes exceed the Team license's limit of 3; a Business license covers up to 10"},
		{"team license, 4 nodes, 3 of them control planes", []string{"--provider", "latitude", "--nodes", "4", "--control-planes", "3", "--license", team},
			"limit of 3"},
		{"team license, GPU", []string{"--provider", "latitude", "--nodes", "2", "--gpu", "--license", team},
			"GPU nodes need a Business or Enterprise license"},
		{"expired past grace", []string{"--provider", "latitude", "--nodes", "3", "--license", expired},
			"expired on 2025-03-01 and its 7-day grace ended on 2025-03-08"},
		{"no license, bare metal", []string{"--provider", "hetzner", "--nodes", "1"},
			"provider hetzner needs a license"},
		{"no license, 4 local nodes", []string{"--provider", "local", "--nodes", "4"},
			"4 nodes exceed the Free tier's limit of 3 local nodes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("CTO_LICENSE", "")
			home := t.TempDir()
			args := append([]string{"deploy", "--state-dir", home, "--yes", "--plan", "c2-small-x86", "--region", "DAL"}, c.args...)
			code, out, errOut := run(t, args...)
			if code != cli.ExitBadInput {
				t.Fatalf("exit %d, want 2; stderr %s", code, errOut)
			}
			oneErrorLine(t, errOut, c.says)
			if out != "" {
				t.Fatalf("stdout %q", out)
			}
			if names, err := state.List(home); err != nil || len(names) != 0 {
				t.Fatalf("a refused deploy left cluster folders: %v %v", names, err)
			}
		})
	}
}

func TestLicenseShowExpired(t *testing.T) {
	file := licenseFile(t, license.Starter, time.Date(2025, 1, 31, 0, 0, 0, 0, time.UTC), devkey.Key())
	code, out, errOut := run(t, "license", "show", "--license", file)
	if code != 0 || !strings.Contains(out, "expired") || !strings.Contains(errOut, "WARNING: the Starter license L-starter expired on 2025-01-31 and its 7-day grace ended on 2025-02-07") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}
