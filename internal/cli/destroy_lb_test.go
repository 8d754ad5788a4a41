package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cto-platform/cto/internal/cli"
	"github.com/cto-platform/cto/internal/destroy"
	"github.com/cto-platform/cto/internal/provider/hetzner"
	"github.com/cto-platform/cto/internal/state"
)

// Destroy's preview is everything it deletes: the API load balancer the
// talos step journals at Hetzner Cloud is listed (table and -o json)
// before the question, and then deleted.
func TestDestroyPreviewListsLoadBalancers(t *testing.T) {
	dir := t.TempDir()
	api, srvURL := deployAtHetznerCloud(t, dir, "lb")
	// What the talos step does for 3 control planes at Hetzner Cloud: the
	// load balancer, journaled the moment it exists.
	cfg, err := hetzner.ConfigFromEnv(srvURL, "")
	if err != nil {
		t.Fatal(err)
	}
	p := hetzner.New(cfg)
	ep, err := p.EnsureAPIEndpoint(context.Background(), "lb", "fsn1", 3)
	if err != nil || ep.LoadBalancerID == "" {
		t.Fatalf("EnsureAPIEndpoint: %+v, %v", ep, err)
	}
	j := cli.LoadJournal(t, dir, "lb")
	if err := j.AddResource(state.Resource{Kind: state.KindLoadBalancer, ID: ep.LoadBalancerID, Name: "lb-api", Region: "FSN1"}); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := run(t, "--state-dir", dir, "destroy", "--name", "lb", "--dry-run", "-o", "json")
	var plan destroy.Plan
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
