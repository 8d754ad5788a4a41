package dns_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/cto-platform/cto/internal/dns"
	"github.com/cto-platform/cto/internal/dns/cloudflare"
	cffake "github.com/cto-platform/cto/internal/dns/cloudflare/fake"
)

const token = "test-token"

func setup(t *testing.T) (*cffake.Server, dns.Zone) {
	t.Helper()
	fake := cffake.New(token, "example.test", "other.test")
	fake.Start()
	t.Cleanup(fake.Close)
	p := cloudflare.New(token, fake.URL(), &http.Client{})
	z, err := dns.FindZone(context.Background(), p, "example.test")
	if err != nil {
		t.Fatal(err)
	}
	return fake, z
}

func TestNames(t *testing.T) {
	if got := dns.APIName("c1", "Example.COM."); got != "api.c1.example.com" {
		t.Fatal(got)
	}
	if got := dns.AppsName("c1", "example.com"); got != "*.c1.example.com" {
		t.Fatal(got)
	}
}

func TestFindZoneOfSubdomain(t *testing.T) {
	fake := cffake.New(token, "example.test", "k8s.example.test")
	fake.Start()
	defer fake.Close()
	p := cloudflare.New(token, fake.URL(), nil)
	z, err := dns.FindZone(context.Background(), p, "eu.k8s.example.test")
	if err != nil || z.Name != "k8s.example.test" {
		t.Fatalf("%+v %v", z, err)
	}
	if _, err := dns.FindZone(context.Background(), p, "example.org"); err == nil || !strings.Contains(err.Error(), "no zone for example.org") {
		t.Fatalf("missing zone: %v", err)
	}
}

func TestEnsureIsIdempotentAndLeavesOthersAlone(t *testing.T) {
	ctx := context.Background()
	fake, z := setup(t)
	fake.Put("example.test", cffake.Record{Name: "www", Type: "A", Content: "192.0.2.80"})
	fake.Put("example.test", cffake.Record{Name: "api.c2", Type: "A", Content: "192.0.2.90"})
	want, err := dns.ClusterRecords("c1", "example.test", []string{"192.0.2.1", "192.0.2.2", "192.0.2.1"}, []string{"192.0.2.3", "2001:db8::3"})
	if err != nil {
		t.Fatal(err)
	}
	var journaled []string
	ch, err := z.Ensure(ctx, dns.Owner("c1"), want, func(r dns.Record) error {
		if r.ID == "" {
			t.Errorf("created %s without an ID", r)
		}
		journaled = append(journaled, r.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Created) != 4 || len(journaled) != 4 || len(ch.Kept) != 0 {
		t.Fatalf("changes %+v", ch)
	}
	wantState := []string{
		"*.c1.example.test A 192.0.2.3 cto-cluster=c1",
		"*.c1.example.test AAAA 2001:db8::3 cto-cluster=c1",
		"api.c1.example.test A 192.0.2.1 cto-cluster=c1",
		"api.c1.example.test A 192.0.2.2 cto-cluster=c1",
		"api.c2.example.test A 192.0.2.90 ",
		"www.example.test A 192.0.2.80 ",
	}
	if got := fake.Lines("example.test", ""); strings.Join(got, "\n") != strings.Join(wantState, "\n") {
		t.Fatalf("zone:\n%s", strings.Join(got, "\n"))
	}

	posts := fake.Calls()["POST dns_records"]
	ch, err = z.Ensure(ctx, dns.Owner("c1"), want, func(r dns.Record) error { t.Errorf("rerun created %s", r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Kept) != 4 || len(ch.Created) != 0 || fake.Calls()["POST dns_records"] != posts {
		t.Fatalf("rerun: %+v, posts %d -> %d", ch, posts, fake.Calls()["POST dns_records"])
	}

	// A replaced worker: the old address goes, the new one comes.
	want2, _ := dns.ClusterRecords("c1", "example.test", []string{"192.0.2.1", "192.0.2.2"}, []string{"192.0.2.4", "2001:db8::3"})
	ch, err = z.Ensure(ctx, dns.Owner("c1"), want2, nil)
	if err != nil || len(ch.Created) != 1 || len(ch.Removed) != 1 || ch.Removed[0].Value != "192.0.2.3" {
		t.Fatalf("%+v %v", ch, err)
	}

	owned, err := z.Owned(ctx, dns.Owner("c1"))
	if err != nil || len(owned) != 4 {
		t.Fatalf("owned %v %v", owned, err)
	}
	if err := z.Delete(ctx, owned); err != nil {
		t.Fatal(err)
	}
	if got := fake.Lines("example.test", ""); strings.Join(got, "\n") != "api.c2.example.test A 192.0.2.90 \nwww.example.test A 192.0.2.80 " {
		t.Fatalf("after delete:\n%s", strings.Join(got, "\n"))
	}
	// Deleting again is not an error.
	if err := z.Delete(ctx, owned); err != nil {
		t.Fatal(err)
	}
}

func TestEnsureRefusesForeignRecordsOfItsNames(t *testing.T) {
	fake, z := setup(t)
	fake.Put("example.test", cffake.Record{Name: "api.c1", Type: "A", Content: "198.51.100.7"})
	want, _ := dns.ClusterRecords("c1", "example.test", []string{"192.0.2.1"}, []string{"192.0.2.1"})
	_, err := z.Ensure(context.Background(), dns.Owner("c1"), want, nil)
	var ce *dns.ConflictError
	if !errors.As(err, &ce) || ce.Name != "api.c1.example.test" || !strings.Contains(err.Error(), "A 198.51.100.7") {
		t.Fatalf("got %v", err)
	}
	if n := len(fake.Records("example.test")); n != 1 {
		t.Fatalf("a conflict must change nothing; zone has %d records", n)
	}
}

func TestAdapterRetriesReadsAndReportsAPIErrors(t *testing.T) {
	ctx := context.Background()
	fake, z := setup(t)
	fake.FailNext(http.MethodGet, "/client/v4/zones/", http.StatusTooManyRequests)
	fake.FailNext(http.MethodGet, "/client/v4/zones/", http.StatusBadGateway)
	if _, err := z.Records(ctx); err != nil {
		t.Fatalf("a read should survive a 429 and a 502: %v", err)
	}

	bad := cloudflare.New("wrong-token", fake.URL(), nil)
	_, err := dns.FindZone(ctx, bad, "example.test")
	var ae *cloudflare.APIError
	if !errors.As(err, &ae) || ae.Code != 10000 || strings.Contains(err.Error(), "wrong-token") {
		t.Fatalf("bad token: %v", err)
	}
}

func TestRecordsPagesThroughLargeZones(t *testing.T) {
	fake, z := setup(t)
	for i := 0; i < 1203; i++ {
		fake.Put("example.test", cffake.Record{Name: "h" + strconv.Itoa(i), Type: "A", Content: "192.0.2.1"})
	}
	recs, err := z.Records(context.Background())
	if err != nil || len(recs) != 1203 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	if n := fake.Calls()["GET dns_records"]; n != 2 {
		t.Fatalf("%d list calls for 1203 records, want 2 pages of 1000", n)
	}
}
