// Package providertest is the conformance suite every provider must pass
// against its stateful fake: create -> wait -> list -> network -> destroy,
// and the provider's failures mapped to the typed errors of package
// provider.
package providertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/provider"
)

// Fixture is one provider pointed at a fresh fake.
type Fixture struct {
	// Provider talks to the fake with valid credentials.
	Provider provider.Provider
	// Plan and Region name a Talos-capable plan in stock at Region.
	Plan   string
	Region string
	// Project is passed in specs where the provider needs one.
	Project string
	// Settle lets the fake's simulated time pass far enough that pending
	// servers finish deploying and network assignments connect.
	Settle func()
	// BadCredentials returns a provider for the same fake with a token the
	// fake rejects.
	BadCredentials func() provider.Provider
	// OutOfStock makes the fake report Plan out of stock at Region from now
	// on.
	OutOfStock func()
	// FailNext makes the next server the fake creates end in a failed
	// deployment.
	FailNext func()
}

// Run runs the whole suite. newFixture is called once per subtest.
func Run(t *testing.T, newFixture func(t *testing.T) Fixture) {
	t.Run("Authenticate", func(t *testing.T) {
		f := newFixture(t)
		ctx := testContext(t)
		if err := f.Provider.Authenticate(ctx); err != nil {
			t.Fatalf("Authenticate with valid credentials: %v", err)
		}
		err := f.BadCredentials().Authenticate(ctx)
		if !errors.Is(err, provider.ErrUnauthorized) {
			t.Fatalf("Authenticate with a bad token = %v, want ErrUnauthorized", err)
		}
	})

	t.Run("Catalogue", func(t *testing.T) {
		f := newFixture(t)
		ctx := testContext(t)
		regions, err := f.Provider.ListRegions(ctx)
		if err != nil {
			t.Fatalf("ListRegions: %v", err)
		}
		if !slices.ContainsFunc(regions, func(r provider.Region) bool { return r.Slug == f.Region }) {
			t.Fatalf("ListRegions has no %s: %v", f.Region, regions)
		}
		for _, r := range regions {
			if r.Slug == "" || r.Name == "" {
				t.Errorf("region without slug or name: %+v", r)
			}
		}
		plans, err := f.Provider.ListPlans(ctx, provider.PlanFilter{})
		if err != nil {
			t.Fatalf("ListPlans: %v", err)
		}
		p := findPlan(plans, f.Plan)
		if p == nil {
			t.Fatalf("ListPlans has no %s", f.Plan)
		}
		if p.Cores <= 0 || p.MemoryGB <= 0 || !p.TalosCapable || p.Currency == "" {
			t.Errorf("plan %s is incomplete: %+v", f.Plan, *p)
		}
		at, ok := p.At(f.Region)
		if !ok || !at.InStock || at.Hourly <= 0 || at.Monthly <= 0 {
			t.Errorf("plan %s at %s: %+v (found %v), want in stock with prices", f.Plan, f.Region, at, ok)
		}
		inStock, err := f.Provider.ListPlans(ctx, provider.PlanFilter{Region: f.Region, InStock: true})
		if err != nil {
			t.Fatalf("ListPlans(in stock at %s): %v", f.Region, err)
		}
		if findPlan(inStock, f.Plan) == nil {
			t.Errorf("ListPlans(in stock at %s) lacks %s", f.Region, f.Plan)
		}
		for _, q := range inStock {
			if r, ok := q.At(f.Region); !ok || !r.InStock {
				t.Errorf("ListPlans(in stock at %s) returned %s, which is not in stock there", f.Region, q.Slug)
			}
		}
		big, err := f.Provider.ListPlans(ctx, provider.PlanFilter{MinRAMGB: p.MemoryGB + 1})
		if err != nil {
			t.Fatalf("ListPlans(min RAM): %v", err)
		}
		for _, q := range big {
			if q.MemoryGB <= p.MemoryGB {
				t.Errorf("ListPlans(min RAM %d GB) returned %s with %d GB", p.MemoryGB+1, q.Slug, q.MemoryGB)
			}
		}
		gpu, err := f.Provider.ListPlans(ctx, provider.PlanFilter{GPU: true})
		if err != nil {
			t.Fatalf("ListPlans(GPU): %v", err)
		}
		for _, q := range gpu {
			if q.GPUCount == 0 {
				t.Errorf("ListPlans(GPU) returned %s without GPUs", q.Slug)
			}
		}
	})

	t.Run("Lifecycle", func(t *testing.T) {
		f := newFixture(t)
		ctx := testContext(t)
		cluster := "conf-" + fmt.Sprint(time.Now().UnixNano()%100000)
		var ids []string
		for i, role := range []provider.Role{provider.RoleControlPlane, provider.RoleWorker} {
			s, err := provider.Create(ctx, f.Provider, serverSpec(f, cluster, fmt.Sprintf("%s-n%d", cluster, i+1), role), nil)
			if err != nil {
				t.Fatalf("CreateServer: %v", err)
			}
			if s.ID == "" {
				t.Fatalf("CreateServer returned no ID: %+v", s)
			}
			if s.Status == provider.StatusReady {
				t.Logf("server %s is ready at once", s.ID)
			}
			ids = append(ids, s.ID)
		}
		// A server of another cluster must never show up in this one's list.
		other, err := provider.Create(ctx, f.Provider, serverSpec(f, cluster+"-other", cluster+"-other-n1", provider.RoleWorker), nil)
		if err != nil {
			t.Fatalf("CreateServer (other cluster): %v", err)
		}
		f.Settle()

		listed, err := f.Provider.ListServers(ctx, cluster)
		if err != nil {
			t.Fatalf("ListServers: %v", err)
		}
		if got := serverIDs(listed); !sameSet(got, ids) {
			t.Fatalf("ListServers(%s) = %v, want %v", cluster, got, ids)
		}
		for _, s := range listed {
			if s.Status != provider.StatusReady {
				t.Errorf("server %s after Settle: status %s (raw %q), want ready", s.ID, s.Status, s.RawStatus)
			}
			if s.PublicIPv4 == "" {
				t.Errorf("server %s is ready without a public IPv4", s.ID)
			}
			if s.Hostname == "" {
				t.Errorf("server %s has no hostname", s.ID)
			}
		}
		got, err := f.Provider.GetServer(ctx, ids[0])
		if err != nil {
			t.Fatalf("GetServer: %v", err)
		}
		if got.ID != ids[0] || got.Status != provider.StatusReady {
			t.Errorf("GetServer(%s) = %+v", ids[0], got)
		}

		if f.Provider.Capabilities().PrivateNetworks {
			n, err := f.Provider.CreateNetwork(ctx, provider.NetworkSpec{Cluster: cluster, Region: f.Region, Project: f.Project, Description: cluster})
			if err != nil {
				t.Fatalf("CreateNetwork: %v", err)
			}
			if n.ID == "" {
				t.Fatalf("CreateNetwork returned no ID")
			}
			nets, err := f.Provider.ListNetworks(ctx, cluster)
			if err != nil {
				t.Fatalf("ListNetworks: %v", err)
			}
			if len(nets) != 1 || nets[0].ID != n.ID {
				t.Fatalf("ListNetworks(%s) = %+v, want just %s", cluster, nets, n.ID)
			}
			for _, id := range ids {
				a, err := f.Provider.AssignServer(ctx, n.ID, id)
				if err != nil {
					t.Fatalf("AssignServer(%s): %v", id, err)
				}
				if a.ServerID != id || a.NetworkID != n.ID {
					t.Errorf("AssignServer returned %+v", a)
				}
			}
			f.Settle()
			as, err := f.Provider.ListAssignments(ctx, n.ID)
			if err != nil {
				t.Fatalf("ListAssignments: %v", err)
			}
			if len(as) != len(ids) {
				t.Fatalf("ListAssignments = %d, want %d", len(as), len(ids))
			}
			for _, a := range as {
				if a.Status != provider.AssignmentConnected {
					t.Errorf("assignment %s after Settle: %s (raw %q), want connected", a.ID, a.Status, a.RawStatus)
				}
			}
			if err := f.Provider.DeleteNetwork(ctx, n.ID); err != nil {
				t.Fatalf("DeleteNetwork: %v", err)
			}
			if err := f.Provider.DeleteNetwork(ctx, n.ID); err != nil {
				t.Fatalf("DeleteNetwork twice: %v, want nil (already gone)", err)
			}
			nets, err = f.Provider.ListNetworks(ctx, cluster)
			if err != nil {
				t.Fatalf("ListNetworks after delete: %v", err)
			}
			if len(nets) != 0 {
				t.Fatalf("ListNetworks after delete = %+v", nets)
			}
		}

		for _, id := range ids {
			if err := f.Provider.DeleteServer(ctx, id); err != nil {
				t.Fatalf("DeleteServer(%s): %v", id, err)
			}
			if err := f.Provider.DeleteServer(ctx, id); err != nil {
				t.Fatalf("DeleteServer(%s) twice: %v, want nil (already gone)", id, err)
			}
		}
		f.Settle()
		listed, err = f.Provider.ListServers(ctx, cluster)
		if err != nil {
			t.Fatalf("ListServers after delete: %v", err)
		}
		for _, s := range listed {
			if s.Status != provider.StatusDeleting {
				t.Errorf("server %s still listed after delete with status %s", s.ID, s.Status)
			}
		}
		if _, err := f.Provider.GetServer(ctx, ids[0]); err != nil && !errors.Is(err, provider.ErrNotFound) {
			t.Errorf("GetServer of a deleted server = %v, want ErrNotFound or a deleting server", err)
		}
		rest, err := f.Provider.ListServers(ctx, cluster+"-other")
		if err != nil || len(rest) != 1 || rest[0].ID != other.ID {
			t.Errorf("the other cluster's server was touched: %+v, %v", rest, err)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		f := newFixture(t)
		ctx := testContext(t)
		if _, err := f.Provider.GetServer(ctx, "does-not-exist"); !errors.Is(err, provider.ErrNotFound) {
			t.Errorf("GetServer(unknown) = %v, want ErrNotFound", err)
		}
		spec := serverSpec(f, "conf-errors", "conf-errors-n1", provider.RoleWorker)
		spec.Plan = "no-such-plan"
		if _, err := provider.Create(ctx, f.Provider, spec, nil); !errors.Is(err, provider.ErrInvalid) && !errors.Is(err, provider.ErrNotFound) {
			t.Errorf("CreateServer(unknown plan) = %v, want ErrInvalid or ErrNotFound", err)
		}
		if f.OutOfStock == nil {
			t.Fatal("the fixture has no OutOfStock: every fake must be able to run out of stock")
		}
		{
			f.OutOfStock()
			_, err := provider.Create(ctx, f.Provider, serverSpec(f, "conf-errors", "conf-errors-n2", provider.RoleWorker), nil)
			if !errors.Is(err, provider.ErrOutOfStock) {
				t.Errorf("CreateServer when out of stock = %v, want ErrOutOfStock", err)
			}
			left, _ := f.Provider.ListServers(ctx, "conf-errors")
			if len(left) != 0 {
				t.Errorf("a refused create left servers: %+v", left)
			}
		}
	})

	t.Run("FailedDeployment", func(t *testing.T) {
		f := newFixture(t)
		if f.FailNext == nil {
			t.Skip("the fake cannot fail a deployment")
		}
		ctx := testContext(t)
		f.FailNext()
		s, err := provider.Create(ctx, f.Provider, serverSpec(f, "conf-fail", "conf-fail-n1", provider.RoleWorker), nil)
		if err != nil {
			t.Fatalf("CreateServer: %v", err)
		}
		f.Settle()
		got, err := f.Provider.GetServer(ctx, s.ID)
		if err != nil {
			t.Fatalf("GetServer: %v", err)
		}
		if got.Status != provider.StatusFailed {
			t.Fatalf("server after a failed deployment: %s (raw %q), want failed", got.Status, got.RawStatus)
		}
	})
}

func serverSpec(f Fixture, cluster, hostname string, role provider.Role) provider.ServerSpec {
	return provider.ServerSpec{
		Cluster: cluster, Hostname: hostname, Role: role, Plan: f.Plan, Region: f.Region, Project: f.Project,
		Boot: provider.Boot{Method: provider.BootIPXE, URL: "https://pxe.example.test/pxe/schematic/v1.13.9/metal-amd64",
			Talos: provider.TalosImage{Factory: "https://example.test", Schematic: "schematic", Version: "v1.13.9"}},
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func findPlan(plans []provider.Plan, slug string) *provider.Plan {
	for i := range plans {
		if plans[i].Slug == slug {
			return &plans[i]
		}
	}
	return nil
}

func serverIDs(ss []provider.Server) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
