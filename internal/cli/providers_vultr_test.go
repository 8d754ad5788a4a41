package cli_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cto-platform/cto/internal/cli"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/vultr"
	"github.com/cto-platform/cto/internal/provider/vultr/fake"
)

func vultrFake(t *testing.T) string {
	t.Helper()
	api := fake.New(fake.Options{Token: "cli-test-key"})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	t.Setenv("VULTR_API_KEY", "cli-test-key")
	t.Setenv("VULTR_API_URL", "")
	return srv.URL
}

func TestPlansVultrJSON(t *testing.T) {
	url := vultrFake(t)
	var plans []provider.Plan
	stdout := runJSON(t, &plans, "plans", "--provider", "vultr", "--api-url", url, "-o", "json")
	if len(plans) != 4 {
		t.Fatalf("got %d plans, want the fake's 4", len(plans))
	}
	for i := 1; i < len(plans); i++ {
		if plans[i-1].Slug > plans[i].Slug {
			t.Errorf("plans are not sorted by slug: %s before %s", plans[i-1].Slug, plans[i].Slug)
		}
	}
	var small *provider.Plan
	for i := range plans {
		if plans[i].Slug == "vbm-4c-32gb" {
			small = &plans[i]
		}
	}
	if small == nil || small.Currency != "USD" || !small.TalosCapable || small.MemoryGB != 32 || small.Cores != 4 {
		t.Fatalf("vbm-4c-32gb = %+v", small)
	}
	ewr, ok := small.At("EWR")
	if !ok || !ewr.InStock || ewr.Hourly != 0.274 || ewr.Monthly != 185 {
		t.Errorf("vbm-4c-32gb at EWR = %+v (%v)", ewr, ok)
	}
	// The raw JSON keeps the documented names.
	for _, key := range []string{`"slug"`, `"talos_capable"`, `"hourly"`, `"monthly"`, `"gpu_count"`, `"currency":"USD"`} {
		if !strings.Contains(stdout, key) {
			t.Errorf("JSON lacks %s", key)
		}
	}

	code, stdout, _ := run(t, "plans", "--provider", "vultr", "--api-url", url, "--gpu", "--region", "ewr", "-o", "json")
	if code != 0 || !strings.Contains(stdout, "vbm-112c-2048gb-8-h100-gpu") || strings.Contains(stdout, "vbm-4c-32gb") {
		t.Errorf("--gpu --region ewr: exit %d, %s", code, stdout)
	}
}

func TestPlansVultrTable(t *testing.T) {
	url := vultrFake(t)
	code, stdout, stderr := run(t, "plans", "--provider", "vultr", "--api-url", url, "--region", "FRA", "--in-stock")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "vbm-8c-132gb") || strings.Contains(stdout, "vbm-4c-32gb") || !strings.Contains(stdout, "$350") {
		t.Errorf("plans in stock at FRA:\n%s", stdout)
	}
}

func TestRegionsVultr(t *testing.T) {
	var regions []provider.Region
	runJSON(t, &regions, "regions", "--provider", "vultr", "--api-url", vultrFake(t), "-o", "json")
	if len(regions) != 6 || regions[0].Slug != "AMS" {
		t.Errorf("regions = %+v", regions)
	}
}

func TestVultrWithoutKeyIsBadInput(t *testing.T) {
	t.Setenv("VULTR_API_KEY", "")
	code, stdout, stderr := run(t, "plans", "--provider", "vultr", "--api-url", "http://127.0.0.1:9")
	if code != cli.ExitBadInput || stdout != "" || !strings.Contains(stderr, "VULTR_API_KEY is not set") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if n := strings.Count(strings.TrimSpace(stderr), "\n"); n != 0 {
		t.Errorf("the error takes %d lines, want one: %q", n+1, stderr)
	}
}

func TestVultrWrongKeyIsUnauthorized(t *testing.T) {
	url := vultrFake(t)
	t.Setenv("VULTR_API_KEY", "wrong")
	code, _, stderr := run(t, "plans", "--provider", "vultr", "--api-url", url)
	if code == 0 || !strings.Contains(stderr, "credentials rejected") || strings.Contains(stderr, "wrong") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// Without a journal, destroy sweeps the provider by the cluster's tag: the
// servers and the VPC go, another cluster's stay.
func TestDestroyVultrSweepsByTag(t *testing.T) {
	url := vultrFake(t)
	p, err := vultr.New(vultr.Config{Token: "cli-test-key", BaseURL: url})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	boot := provider.Boot{Method: provider.BootIPXE, URL: "http://127.0.0.1:9/pxe"}
	var ids []string
	for _, c := range []string{"gone", "gone", "kept"} {
		s, err := provider.Create(ctx, p, provider.ServerSpec{Cluster: c, Hostname: c + "-n", Plan: "vbm-4c-32gb", Region: "EWR", Boot: boot}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	n, err := p.CreateNetwork(ctx, provider.NetworkSpec{Cluster: "gone", Region: "EWR"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.AssignServer(ctx, n.ID, ids[0]); err != nil {
		t.Fatal(err)
	}

	code, _, stderr := run(t, "destroy", "--state-dir", t.TempDir(), "--name", "gone", "--provider", "vultr", "--api-url", url, "--yes")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if left, _ := p.ListServers(ctx, "gone"); len(left) != 0 {
		t.Errorf("servers left: %+v", left)
	}
	if nets, _ := p.ListNetworks(ctx, "gone"); len(nets) != 0 {
		t.Errorf("VPCs left: %+v", nets)
	}
	if kept, _ := p.ListServers(ctx, "kept"); len(kept) != 1 || kept[0].ID != ids[2] {
		t.Errorf("the other cluster's server: %+v", kept)
	}
}
