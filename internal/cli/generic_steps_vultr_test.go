package cli_test

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cto-platform/cto/internal/cli"
	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/provider/vultr/fake"
	talosfake "github.com/cto-platform/cto/internal/talos/fake"
)

// The validate, servers and network steps know no provider: the same
// deploy and destroy run against the Vultr double, with a failed first
// server replaced.
func TestGenericStepsDeployAndDestroyAtVultr(t *testing.T) {
	api := fake.New(fake.Options{Token: "k", Clock: clock.NewScaled(600)})
	srv := httptest.NewServer(api)
	defer srv.Close()
	factory := httptest.NewServer(talosfake.NewFactory())
	defer factory.Close()
	t.Setenv("VULTR_API_KEY", "k")
	t.Setenv("VULTR_API_URL", "")
	t.Setenv("CTO_SIMULATED_SPEED", "600")
	api.FailNext(1)
	lic := teamLicense(t)
	dir := t.TempDir()
	code, _, stderr := run(t, "--state-dir", dir, "deploy", "--provider", "vultr", "--api-url", srv.URL, "--license", lic, "--name", "gen",
		"--plan", "vbm-4c-32gb", "--region", "EWR", "--nodes", "3", "--until", "network", "--yes", "--image-factory-url", factory.URL)
	if code != 0 {
		t.Fatalf("deploy exit %d: %s", code, stderr)
	}
	j := cli.LoadJournal(t, dir, "gen")
	replaced := 0
	// The private addresses are the ones Vultr handed out (the double
	// attaches from .3 up), not ones cto picked.
	private := map[string]bool{}
	for _, n := range j.NodesCopy() {
		if n.ServerID == "" || n.Status != "ready" || n.PublicIP == "" {
			t.Errorf("node %+v", n)
		}
		private[n.PrivateIP] = true
		replaced += len(n.Replaced)
	}
	if !private["10.8.0.3"] || !private["10.8.0.4"] || !private["10.8.0.5"] {
		t.Errorf("private addresses %v, want Vultr's 10.8.0.3 to .5", private)
	}
	if replaced != 1 || api.Creates() != 4 {
		t.Errorf("%d replacement(s) after %d creates; want the failed server replaced once", replaced, api.Creates())
	}
	if f := j.FactsCopy(); f.Currency == "" || f.CostMonthly == "" {
		t.Errorf("facts = %v", j.Facts)
	}
	code, _, stderr = run(t, "--state-dir", dir, "destroy", "--name", "gen", "--yes")
	if code != 0 {
		t.Fatalf("destroy exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "clusters", "gen")); !os.IsNotExist(err) {
		t.Errorf("state left after destroy: %v", err)
	}
	code, _, stderr = run(t, "--state-dir", dir, "destroy", "--name", "gen", "--provider", "vultr", "--api-url", srv.URL, "--yes", "--dry-run")
	if code != 0 || !strings.Contains(stderr, "Nothing of cluster") {
		t.Errorf("a sweep after destroy found something: exit %d, %s", code, stderr)
	}
}
