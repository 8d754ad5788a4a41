package deploy

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/destroy"
	"github.com/cto-platform/cto/internal/dns/cloudflare"
	cffake "github.com/cto-platform/cto/internal/dns/cloudflare/fake"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
)

func zoneState(fake *cffake.Server) []string {
	var out []string
	for _, r := range fake.Records("example.test") {
		c := "-"
		if r.Comment != nil {
			c = *r.Comment
		}
		out = append(out, r.Name+" "+r.Type+" "+r.Content+" "+c)
	}
	sort.Strings(out)
	return out
}

// startZone serves the Cloudflare double with the zone example.test for
// the test's duration.
func startZone(t *testing.T) *cffake.Server {
	fake := cffake.New("tok", "example.test")
	fake.Start()
	t.Cleanup(fake.Close)
	return fake
}

// threeControlPlanes is a cluster of three control planes and no workers;
// a fresh slice each time, since the journal keeps pointers into it.
func threeControlPlanes() []state.Node {
	return []state.Node{
		{Name: "c1-cp1", Role: "controlplane", PublicIP: "192.0.2.1"},
		{Name: "c1-cp2", Role: "controlplane", PublicIP: "192.0.2.2"},
		{Name: "c1-cp3", Role: "controlplane", PublicIP: "192.0.2.3"},
	}
}

func dnsRun(t *testing.T, fake *cffake.Server, nodes []state.Node) *pipeline.Run {
	t.Helper()
	s := spec.Defaults()
	s.Name, s.Provider, s.Nodes = "c1", "latitude", len(nodes)
	s.DNS = spec.DNS{Domain: "example.test", Provider: "cloudflare"}
	r, _ := newTestRun(t, s, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	r.Deps.DNS = cloudflare.New("tok", fake.URL(), &http.Client{})
	if err := r.Journal.Update(func(j *state.Journal) {
		for i := range nodes {
			j.Nodes = append(j.Nodes, &nodes[i])
		}
	}); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDNSStepCreatesIdempotentlyAndDestroyRemovesOnlyItsRecords(t *testing.T) {
	ctx := context.Background()
	fake := startZone(t)
	fake.Put("example.test", cffake.Record{Name: "www", Type: "A", Content: "192.0.2.80"})
	other := "cto-cluster=c2"
	fake.Put("example.test", cffake.Record{Name: "api.c2", Type: "A", Content: "192.0.2.90", Comment: &other})

	nodes := []state.Node{
		{Name: "c1-cp1", Role: "controlplane", PublicIP: "192.0.2.1"},
		{Name: "c1-worker1", Role: "worker", PublicIP: "192.0.2.11"},
		{Name: "c1-worker2", Role: "worker", PublicIP: "192.0.2.12"},
	}
	r := dnsRun(t, fake, nodes)
	engine := &pipeline.Engine{Steps: []pipeline.Step{dnsStep{}}}
	if err := engine.Execute(ctx, r, pipeline.Options{}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"*.c1.example.test A 192.0.2.11 cto-cluster=c1",
		"*.c1.example.test A 192.0.2.12 cto-cluster=c1",
		"api.c1.example.test A 192.0.2.1 cto-cluster=c1",
		"api.c2.example.test A 192.0.2.90 cto-cluster=c2",
		"www.example.test A 192.0.2.80 -",
	}
	if got := zoneState(fake); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("zone after deploy:\n%s", strings.Join(got, "\n"))
	}
	journaled := r.Journal.LiveResources(state.KindDNSRecord)
	if len(journaled) != 3 || journaled[0].ID == "" || journaled[0].Attrs["zone"] != "example.test" {
		t.Fatalf("journal: %+v", journaled)
	}
	if r.Journal.FactsCopy().DNSAPIName != "api.c1.example.test" {
		t.Fatalf("fact %q", r.Journal.FactsCopy().DNSAPIName)
	}

	// A rerun of the step (say, after a crash before the journal said done)
	// creates nothing.
	posts := fake.Calls()["POST dns_records"]
	if err := (dnsStep{}).Run(ctx, r); err != nil {
		t.Fatal(err)
	}
	if fake.Calls()["POST dns_records"] != posts || len(r.Journal.LiveResources(state.KindDNSRecord)) != 3 {
		t.Fatalf("rerun created records: posts %d -> %d", posts, fake.Calls()["POST dns_records"])
	}

	plan, err := destroy.FindDNS(ctx, r.Deps.DNS, "c1", "example.test", r.Journal)
	if err != nil || len(plan) != 3 {
		t.Fatalf("plan %v %v", plan, err)
	}
	if err := destroy.ExecuteDNS(ctx, r.Deps.DNS, "example.test", r.Journal, plan, nil); err != nil {
		t.Fatal(err)
	}
	if got := zoneState(fake); strings.Join(got, "\n") != strings.Join(want[3:], "\n") {
		t.Fatalf("zone after destroy:\n%s", strings.Join(got, "\n"))
	}
	if n := len(r.Journal.LiveResources(state.KindDNSRecord)); n != 0 {
		t.Fatalf("%d records still live in the journal", n)
	}
}

func TestDNSStepWithoutWorkersPointsIngressAtControlPlanes(t *testing.T) {
	fake := startZone(t)
	r := dnsRun(t, fake, threeControlPlanes())
	if err := (dnsStep{}).Run(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(zoneState(fake), "\n")
	for _, ip := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		if !strings.Contains(got, "*.c1.example.test A "+ip) || !strings.Contains(got, "api.c1.example.test A "+ip) {
			t.Fatalf("zone:\n%s", got)
		}
	}
}

func TestDNSStepPointsTheAPIAtTheLoadBalancer(t *testing.T) {
	fake := startZone(t)
	r := dnsRun(t, fake, threeControlPlanes())
	if err := r.Journal.SetFacts(func(f *state.Facts) { f.APILoadBalancer = "203.0.113.7" }); err != nil {
		t.Fatal(err)
	}
	if err := (dnsStep{}).Run(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(zoneState(fake), "\n")
	if !strings.Contains(got, "api.c1.example.test A 203.0.113.7") || strings.Contains(got, "api.c1.example.test A 192.0.2.1") ||
		!strings.Contains(got, "*.c1.example.test A 192.0.2.1") {
		t.Fatalf("zone:\n%s\nwant the API name on the load balancer only, ingress on the nodes", got)
	}
}

func TestDestroyFindsRecordsByCommentWithoutAJournal(t *testing.T) {
	ctx := context.Background()
	fake := startZone(t)
	r := dnsRun(t, fake, []state.Node{{Name: "c1-cp1", Role: "controlplane", PublicIP: "192.0.2.1"}})
	if err := (dnsStep{}).Run(ctx, r); err != nil {
		t.Fatal(err)
	}
	fake.Put("example.test", cffake.Record{Name: "mail", Type: "A", Content: "192.0.2.25"})
	p := cloudflare.New("tok", fake.URL(), nil)
	plan, err := destroy.FindDNS(ctx, p, "c1", "example.test", nil)
	if err != nil || len(plan) != 2 {
		t.Fatalf("plan %v %v", plan, err)
	}
	if err := destroy.ExecuteDNS(ctx, p, "example.test", nil, plan, nil); err != nil {
		t.Fatal(err)
	}
	if got := zoneState(fake); len(got) != 1 || got[0] != "mail.example.test A 192.0.2.25 -" {
		t.Fatalf("zone %v", got)
	}
}

func TestDNSStepSkipsWithoutDomain(t *testing.T) {
	r := &pipeline.Run{Deps: &pipeline.Deps{Spec: spec.Defaults()}}
	if reason, skip := (dnsStep{}).Skip(r); !skip || reason == "" {
		t.Fatal("no --domain must skip the dns step")
	}
	r.Deps.Spec.DNS = spec.DNS{Domain: "example.test", Provider: "cloudflare"}
	if _, skip := (dnsStep{}).Skip(r); !skip {
		t.Fatal("a local cluster has no public addresses to publish")
	}
	r.Deps.Spec.Provider = "latitude"
	if _, skip := (dnsStep{}).Skip(r); skip {
		t.Fatal("a bare-metal cluster with --domain must run the dns step")
	}
}

func TestCheckDNSFailsFastOnTokenAndZone(t *testing.T) {
	ctx := context.Background()
	fake := startZone(t)
	r := dnsRun(t, fake, nil)
	if err := checkDNS(ctx, r); err != nil {
		t.Fatal(err)
	}
	r.Deps.DNS = cloudflare.New("wrong", fake.URL(), nil)
	var se *spec.Error
	if err := checkDNS(ctx, r); !errors.As(err, &se) || se.Field != "dns.provider" || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong token: %v", err)
	}
	r.Deps.DNS = cloudflare.New("tok", fake.URL(), nil)
	r.Deps.Spec.DNS.Domain = "example.org"
	if err := checkDNS(ctx, r); !errors.As(err, &se) || se.Field != "dns.domain" {
		t.Fatalf("missing zone: %v", err)
	}
	if n := len(fake.Records("example.test")); n != 0 {
		t.Fatalf("checking created %d records", n)
	}
}
