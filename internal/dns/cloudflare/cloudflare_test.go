package cloudflare_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/libdns/libdns"

	"github.com/cto-platform/cto/internal/dns"
	"github.com/cto-platform/cto/internal/dns/cloudflare"
	cffake "github.com/cto-platform/cto/internal/dns/cloudflare/fake"
)

// serve starts the Cloudflare double with the zone example.test and
// returns it with a provider that reaches it with token.
func serve(t *testing.T, token string) (*cffake.Server, *cloudflare.Provider) {
	t.Helper()
	fake := cffake.New(token, "example.test")
	fake.Start()
	t.Cleanup(fake.Close)
	return fake, cloudflare.New(token, fake.URL(), nil)
}

func TestAppendGetDeleteThroughLibdns(t *testing.T) {
	ctx := context.Background()
	fake, p := serve(t, "tok")

	made, err := p.AppendRecords(ctx, "example.test.", []libdns.Record{
		libdns.Address{Name: "api.c1", TTL: 5 * time.Minute, IP: netip.MustParseAddr("2001:db8::1"), ProviderData: dns.Meta{Comment: "cto-cluster=c1"}},
		libdns.Address{Name: "api.c1", TTL: 5 * time.Minute, IP: netip.MustParseAddr("192.0.2.1")},
	})
	if err != nil || len(made) != 2 {
		t.Fatalf("%v %v", made, err)
	}
	first := made[0].(libdns.Address)
	if m := first.ProviderData.(dns.Meta); m.ID == "" || m.Comment != "cto-cluster=c1" || first.RR().Type != "AAAA" {
		t.Fatalf("created %+v", first)
	}
	stored := fake.Records("example.test")
	if stored[0].TTL != 300 || stored[0].Name != "api.c1.example.test" || stored[1].Comment != nil {
		t.Fatalf("stored %+v", stored)
	}

	got, err := p.GetRecords(ctx, "example.test.")
	if err != nil || len(got) != 2 || got[1].RR().Name != "api.c1" {
		t.Fatalf("%v %v", got, err)
	}

	// Without an ID, only the record with the same content goes.
	gone, err := p.DeleteRecords(ctx, "example.test.", []libdns.Record{
		libdns.Address{Name: "api.c1", IP: netip.MustParseAddr("192.0.2.1")},
	})
	if err != nil || len(gone) != 1 {
		t.Fatalf("%v %v", gone, err)
	}
	if left := fake.Records("example.test"); len(left) != 1 || left[0].Type != "AAAA" {
		t.Fatalf("left %+v", left)
	}

	if _, err := p.AppendRecords(ctx, "example.test.", []libdns.Record{libdns.TXT{Name: "x", Text: "y"}}); err == nil {
		t.Fatal("the adapter creates address records only; a TXT must be refused")
	}
	if _, err := p.GetRecords(ctx, "nope.test."); err == nil {
		t.Fatal("a zone the account does not hold must be an error")
	}
}

// Calls go through the shared HTTP policy: a read answered 503 is asked
// again, a create answered 503 is not (it may have been carried out), and
// the token never appears in an error.
func TestRetriesFollowTheHTTPPolicy(t *testing.T) {
	ctx := context.Background()
	fake, p := serve(t, "tok-secret-value")

	// The fake answers an injected failure without counting the call.
	fake.FailNext("GET", "/client/v4/zones", 503)
	zones, err := p.ListZones(ctx)
	if err != nil || len(zones) != 1 {
		t.Fatalf("a read after one 503: %v %v; want it asked again and answered", zones, err)
	}

	fake.FailNext("POST", "/client/v4/zones", 503)
	_, err = p.AppendRecords(ctx, "example.test.", []libdns.Record{libdns.Address{Name: "api.c1", TTL: time.Minute, IP: netip.MustParseAddr("192.0.2.1")}})
	if err == nil {
		t.Fatal("a create answered 503 reported success")
	}
	if recs := fake.Records("example.test"); len(recs) != 0 || fake.Calls()["POST dns_records"] != 0 {
		t.Errorf("the create was sent again after its 503: records %+v", recs)
	}
	if strings.Contains(err.Error(), "tok-secret-value") {
		t.Errorf("the token is in the error: %v", err)
	}
}
