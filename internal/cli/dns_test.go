package cli_test

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDeployDNSProviderNeedsItsToken(t *testing.T) {
	for _, c := range []struct {
		name, provider, token, says string
	}{
		{"no token", "cloudflare", "", "set CLOUDFLARE_API_TOKEN"},
		{"unknown provider", "route66", "x", `--dns-provider "route66" is not supported; use cloudflare`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("CLOUDFLARE_API_TOKEN", c.token)
			t.Setenv("CTO_LICENSE", "")
			home := t.TempDir()
			code, _, errOut := run(t, "deploy", "--state-dir", home, "--yes", "--provider", "local", "--name", "c1",
				"--domain", "example.test", "--dns-provider", c.provider)
			if code != 2 {
				t.Fatalf("exit %d, want 2: %s", code, errOut)
			}
			oneErrorLine(t, errOut, c.says)
			if _, err := os.Stat(filepath.Join(home, "clusters", "c1")); !os.IsNotExist(err) {
				t.Fatalf("the cluster's folder must not be left: %v", err)
			}
		})
	}
}
