package cli_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/cto-platform/cto/internal/cli"
	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/provider"
	hcloudfake "github.com/cto-platform/cto/internal/provider/hetzner/fake"
	"github.com/cto-platform/cto/internal/provider/hetzner/robot"
	robotfake "github.com/cto-platform/cto/internal/provider/hetzner/robot/fake"
	talosfake "github.com/cto-platform/cto/internal/talos/fake"
)

// runIn is run with a fresh state folder.
func runIn(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return run(t, append(args, "--state-dir", t.TempDir())...)
}

func TestPlansHetznerJSON(t *testing.T) {
	srv := httptest.NewServer(hcloudfake.New(hcloudfake.Options{}))
	t.Cleanup(srv.Close)
	t.Setenv("HCLOUD_TOKEN", hcloudfake.Token)
	t.Setenv("HCLOUD_ENDPOINT", "")

	code, stdout, stderr := runIn(t, "plans", "--provider", "hetzner", "--api-url", srv.URL, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var plans []provider.Plan
	if err := json.Unmarshal([]byte(stdout), &plans); err != nil {
		t.Fatalf("output is not a JSON array of plans: %v\n%s", err, stdout)
	}
	var slugs []string
	for _, p := range plans {
		slugs = append(slugs, p.Slug)
		if p.Currency != "EUR" {
			t.Errorf("plan %s currency %q, want EUR", p.Slug, p.Currency)
		}
	}
	if strings.Join(slugs, ",") != "cax21,ccx23,cx23,cx33" {
		t.Fatalf("plans = %v, want the fake's four server types sorted", slugs)
	}
	var raw []map[string]any
	json.Unmarshal([]byte(stdout), &raw)
	for _, key := range []string{"slug", "cores", "memory_gb", "gpu_count", "gpu_type", "talos_capable", "currency", "regions"} {
		if _, ok := raw[0][key]; !ok {
			t.Errorf("JSON plan lacks %q: %v", key, raw[0])
		}
	}
	cx23 := plans[2]
	at, ok := cx23.At("fsn1")
	if !ok || !at.InStock || at.Monthly != 3.99 || at.Hourly != 0.0066 || !cx23.TalosCapable || cx23.Cores != 2 || cx23.MemoryGB != 4 {
		t.Errorf("cx23 = %+v at fsn1 %+v", cx23, at)
	}
	if plans[0].TalosCapable {
		t.Errorf("the arm type cax21 is marked Talos-capable")
	}

	code, stdout, stderr = runIn(t, "plans", "--provider", "hetzner", "--api-url", srv.URL, "--region", "ash", "--in-stock", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	plans = nil
	json.Unmarshal([]byte(stdout), &plans)
	if len(plans) != 1 || plans[0].Slug != "ccx23" {
		t.Errorf("plans in stock at ash = %+v, want only ccx23", plans)
	}

	code, stdout, _ = runIn(t, "plans", "--provider", "hetzner", "--api-url", srv.URL, "--region", "fsn1")
	if code != 0 || !strings.Contains(stdout, "4 EUR") || strings.Contains(stdout, "$") {
		t.Errorf("table (exit %d) does not state EUR prices:\n%s", code, stdout)
	}
}

func TestRegionsHetznerJSON(t *testing.T) {
	srv := httptest.NewServer(hcloudfake.New(hcloudfake.Options{}))
	t.Cleanup(srv.Close)
	t.Setenv("HCLOUD_TOKEN", hcloudfake.Token)
	code, stdout, stderr := runIn(t, "regions", "--provider", "hetzner", "--api-url", srv.URL, "-o", "json")
	var regions []provider.Region
	if code != 0 || json.Unmarshal([]byte(stdout), &regions) != nil || len(regions) != 4 || regions[1].Slug != "fsn1" || regions[1].Country != "DE" {
		t.Errorf("regions (exit %d, %s) = %s", code, stderr, stdout)
	}
}

func TestPlansHetznerWithoutTokenIsBadInput(t *testing.T) {
	t.Setenv("HCLOUD_TOKEN", "")
	code, _, stderr := runIn(t, "plans", "--provider", "hetzner")
	if code != cli.ExitBadInput || !strings.Contains(stderr, "HCLOUD_TOKEN") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("exit %d, stderr %q; want exit 2 and one line naming HCLOUD_TOKEN", code, stderr)
	}
}

func robotEnv(t *testing.T) (*robotfake.Fake, string) {
	f := robotfake.New()
	srv := httptest.NewServer(f)
	t.Cleanup(func() { srv.Close(); f.Close() })
	t.Setenv("HETZNER_ROBOT_USER", robotfake.User)
	t.Setenv("HETZNER_ROBOT_PASSWORD", robotfake.Password)
	t.Setenv("HETZNER_ROBOT_URL", "")
	t.Setenv("HETZNER_ROBOT_SSH_KEY", t.TempDir()+"/no-key")
	return f, srv.URL
}

func TestPlansHetznerRobotJSON(t *testing.T) {
	_, url := robotEnv(t)
	code, stdout, stderr := runIn(t, "plans", "--provider", "hetzner-robot", "--api-url", url, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var plans []provider.Plan
	if err := json.Unmarshal([]byte(stdout), &plans); err != nil || len(plans) != 2 {
		t.Fatalf("plans = %s (%v)", stdout, err)
	}
	ax := plans[0]
	at, _ := ax.At("FSN1")
	if ax.Slug != "AX42" || ax.Currency != "EUR" || ax.Cores != 8 || ax.MemoryGB != 64 || at.Monthly != 46 || !at.InStock {
		t.Errorf("AX42 = %+v at FSN1 %+v", ax, at)
	}
	if ex, _ := plans[1].At("NBG1"); ex.InStock {
		t.Errorf("EX130-R is in stock at NBG1, where the fake does not offer it")
	}
}

func TestDestroyRobotReleasesAndSaysStillRented(t *testing.T) {
	f, url := robotEnv(t)
	n := f.AddServer("AX42", "FSN1-DC14")
	p := robot.New(robot.Config{User: robotfake.User, Password: robotfake.Password, Endpoint: url, Clock: f.Clock(), Servers: []string{strconv.Itoa(n)}})
	if _, err := provider.Create(context.Background(), p, provider.ServerSpec{Cluster: "dc", Hostname: "dc-n1", Role: provider.RoleWorker, Plan: "AX42", Region: "FSN1"}, nil); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runIn(t, "destroy", "--name", "dc", "--provider", "hetzner-robot", "--api-url", url, "--yes")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "still rented") || strings.Contains(stderr, "nothing of it is billing") {
		t.Errorf("destroy output does not say the servers are still rented:\n%s", stderr)
	}
	st := f.Snapshot()
	if len(st.Servers) != 1 || st.Servers[0].Cancellations != 0 || st.Servers[0].Name != robot.ReleasedName || st.Servers[0].Resets != 1 {
		t.Errorf("server after destroy = %+v; want released (reset, untagged), never cancelled", st.Servers)
	}
}

// The generic validate, servers and network steps deploy at Hetzner Cloud:
// Talos boots from the public ISO the factory URL's version names, every
// server carries the cluster's labels, the control planes share a spread
// placement group, and destroy leaves nothing.
// deployAtHetznerCloud deploys 3 control planes up to the network step at
// the Hetzner Cloud double, and returns the double and its URL.
func deployAtHetznerCloud(t *testing.T, dir, name string) (*hcloudfake.Fake, string) {
	t.Helper()
	api := hcloudfake.New(hcloudfake.Options{Clock: clock.NewScaled(600)})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	factory := httptest.NewServer(talosfake.NewFactory())
	t.Cleanup(factory.Close)
	t.Setenv("HCLOUD_TOKEN", hcloudfake.Token)
	t.Setenv("HCLOUD_ENDPOINT", "")
	t.Setenv("CTO_SIMULATED_SPEED", "600")
	lic := teamLicense(t)
	code, _, stderr := run(t, "--state-dir", dir, "deploy", "--provider", "hetzner", "--api-url", srv.URL, "--license", lic, "--name", name,
		"--plan", "cx23", "--region", "fsn1", "--nodes", "3", "--control-planes", "3", "--until", "network", "--yes", "--image-factory-url", factory.URL)
	if code != 0 {
		t.Fatalf("deploy exit %d: %s", code, stderr)
	}
	return api, srv.URL
}

func TestDeployAndDestroyAtHetznerCloud(t *testing.T) {
	dir := t.TempDir()
	api, srvURL := deployAtHetznerCloud(t, dir, "hz")
	st := api.Snapshot()
	if len(st.Servers) != 3 {
		t.Fatalf("servers = %d, want 3", len(st.Servers))
	}
	for _, s := range st.Servers {
		if s.Labels["cto.cluster"] != "hz" || s.Labels["cto.role"] != "controlplane" || s.PlacementGroup == nil || !strings.HasPrefix(s.Booted, "iso:talos-") {
			t.Errorf("server %s: labels %v, placement %v, booted %q", s.Name, s.Labels, s.PlacementGroup, s.Booted)
		}
		if len(s.PrivateNet) != 1 {
			t.Errorf("server %s private networks = %+v, want the cluster's", s.Name, s.PrivateNet)
		}
	}
	if len(st.Networks) != 1 || st.Networks[0].Labels["cto.cluster"] != "hz" {
		t.Errorf("networks = %+v", st.Networks)
	}
	// Hetzner picks the private addresses; the journal has its choice.
	j := cli.LoadJournal(t, dir, "hz")
	for _, n := range j.NodesCopy() {
		for _, s := range st.Servers {
			if strconv.FormatInt(s.ID, 10) == n.ServerID && (len(s.PrivateNet) != 1 || s.PrivateNet[0].IP != n.PrivateIP) {
				t.Errorf("%s: journal private address %q, Hetzner gave %+v", n.Name, n.PrivateIP, s.PrivateNet)
			}
		}
	}
	code, _, stderr := run(t, "--state-dir", dir, "destroy", "--name", "hz", "--yes")
	if code != 0 {
		t.Fatalf("destroy exit %d: %s", code, stderr)
	}
	code, _, stderr = run(t, "--state-dir", dir, "destroy", "--name", "hz", "--provider", "hetzner", "--api-url", srvURL, "--yes", "--dry-run")
	if code != 0 || !strings.Contains(stderr, "Nothing of cluster") {
		t.Errorf("a sweep after destroy found something: exit %d, %s", code, stderr)
	}
	if st := api.Snapshot(); len(st.PlacementGroups) != 0 || len(st.LoadBalancers) != 0 || len(st.Networks) != 0 {
		t.Errorf("left after destroy: %d placement groups, %d load balancers, %d networks", len(st.PlacementGroups), len(st.LoadBalancers), len(st.Networks))
	}
}

func TestDeployRobotAdoptsWithoutAPlan(t *testing.T) {
	f, url := robotEnv(t)
	a, b := f.AddServer("AX42", "FSN1-DC14"), f.AddServer("AX42", "FSN1-DC14")
	servers := strconv.Itoa(a) + "," + strconv.Itoa(b)
	lic := teamLicense(t)
	dir := t.TempDir()

	// A third server that is not in the account: refused before anything
	// changes, naming --servers.
	code, _, stderr := run(t, "--state-dir", dir, "deploy", "--provider", "hetzner-robot", "--api-url", url, "--license", lic, "--name", "hr",
		"--servers", servers+",999999", "--until", "validate", "--yes")
	if code != 2 || !strings.Contains(stderr, "servers") {
		t.Errorf("three nodes on two adoptable servers: exit %d, %s; want 2 naming --servers", code, stderr)
	}
	for _, s := range f.Snapshot().Servers {
		if s.Name != "" {
			t.Errorf("server %d was renamed to %q by a refused deploy", s.Number, s.Name)
		}
	}

	// Two servers, no --plan, no --nodes: two nodes, nothing to pay.
	code, _, stderr = run(t, "--state-dir", dir, "deploy", "--provider", "hetzner-robot", "--api-url", url, "--license", lic, "--name", "hr2",
		"--servers", servers, "--until", "validate", "--yes")
	if code != 0 || !strings.Contains(stderr, "adopting 2 of the rented servers") {
		t.Errorf("adopt two servers: exit %d, %s", code, stderr)
	}
}
