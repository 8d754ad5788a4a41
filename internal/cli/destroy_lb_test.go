package cli_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/license"
	"github.com/cto-platform/cto/internal/license/devkey"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/provider/hetzner"
	hcloudfake "github.com/cto-platform/cto/internal/provider/hetzner/fake"
	"github.com/cto-platform/cto/internal/state"
	talosfake "github.com/cto-platform/cto/internal/talos/fake"
)

// Destroy's preview is everything it deletes: the API load balancer the
// talos step journals at Hetzner Cloud is listed (table and -o json)
// before the question, and then deleted.
func TestDestroyPreviewListsLoadBalancers(t *testing.T) {
	api := hcloudfake.New(hcloudfake.Options{Clock: clock.NewScaled(600)})
	srv := httptest.NewServer(api)
	defer srv.Close()
	factory := httptest.NewServer(talosfake.NewFactory())
	defer factory.Close()
	t.Setenv("HCLOUD_TOKEN", hcloudfake.Token)
	t.Setenv("HCLOUD_ENDPOINT", "")
	t.Setenv("CTO_SIMULATED_SPEED", "600")
	lic := licenseFile(t, license.Team, time.Now().AddDate(1, 0, 0), devkey.Key())
	dir := t.TempDir()
	code, _, stderr := run(t, "--state-dir", dir, "deploy", "--provider", "hetzner", "--api-url", srv.URL, "--license", lic, "--name", "lb",
		"--plan", "cx23", "--region", "fsn1", "--nodes", "3", "--control-planes", "3", "--until", "network", "--yes", "--image-factory-url", factory.URL)
	if code != 0 {
		t.Fatalf("deploy exit %d: %s", code, stderr)
	}
	// What the talos step does for 3 control planes at Hetzner Cloud: the
	// load balancer, journaled the moment it exists.
	p, err := hetzner.FromEnv(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	ep, err := p.EnsureAPIEndpoint(context.Background(), "lb", "fsn1", 3)
	if err != nil || ep.LoadBalancerID == "" {
		t.Fatalf("EnsureAPIEndpoint: %+v, %v", ep, err)
	}
	c, err := state.Open(dir, "lb", false)
	if err != nil {
		t.Fatal(err)
	}
	j, err := c.Load()
	if err != nil {
		t.Fatal(err)
	}
	if err := j.AddResource(state.Resource{Kind: pipeline.KindLoadBalancer, ID: ep.LoadBalancerID, Name: "lb-api", Region: "FSN1"}); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := run(t, "--state-dir", dir, "destroy", "--name", "lb", "--dry-run", "-o", "json")
	var plan pipeline.DestroyPlan
	if code != 0 || json.Unmarshal([]byte(stdout), &plan) != nil {
		t.Fatalf("destroy --dry-run -o json: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if len(plan.LoadBalancers) != 1 || plan.LoadBalancers[0].ID != ep.LoadBalancerID {
		t.Errorf("the preview lists load balancers %+v, want %s", plan.LoadBalancers, ep.LoadBalancerID)
	}
	code, _, stderr = run(t, "--state-dir", dir, "destroy", "--name", "lb", "--yes")
	if code != 0 {
		t.Fatalf("destroy exit %d: %s", code, stderr)
	}
	if i := strings.Index(stderr, "these will be deleted:"); i < 0 || !strings.Contains(stderr[i:], "load_balancer") || !strings.Contains(stderr, ep.LoadBalancerID) {
		t.Errorf("the list shown before deleting omits the load balancer:\n%s", stderr)
	}
	if st := api.Snapshot(); len(st.LoadBalancers) != 0 {
		t.Errorf("%d load balancers left after destroy", len(st.LoadBalancers))
	}
}
