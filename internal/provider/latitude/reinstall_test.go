package latitude

import (
	"context"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/latitude/fake"
)

// TestDiskErasingIsReinstalling: a server whose reinstall erases its disks
// is still the hostname's server. It is neither ordered a second time nor
// reported as leaving.
func TestDiskErasingIsReinstalling(t *testing.T) {
	f := fake.New(fake.Options{})
	srv := httptest.NewServer(f)
	defer srv.Close()
	ctx := context.Background()
	newP := func() *Provider {
		p, err := New(Config{Token: f.Token(), APIURL: srv.URL, ReadsPerMinute: -1, WritesPerMinute: -1})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	spec := provider.ServerSpec{Cluster: "erase", Hostname: "erase-cp1", Plan: "c2-small-x86", Region: "DAL",
		Boot: provider.Boot{Method: provider.BootIPXE, URL: "https://pxe.test/boot.ipxe"}}
	p := newP()
	s, err := provider.Create(ctx, p, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.Advance(time.Hour)
	if err := p.Client().Reinstall(ctx, s.ID, "ipxe", spec.Hostname, "https://pxe.test/boot.ipxe"); err != nil {
		t.Fatal(err)
	}
	f.Advance(fake.StaleReadAfterReinstall)
	got, err := p.GetServer(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.RawStatus != "disk_erasing" || got.Status != provider.StatusPending {
		t.Fatalf("reinstalling server reads %s (%s), want disk_erasing as pending", got.RawStatus, got.Status)
	}
	// A later deploy (a new process) finds the hostname taken by it.
	again, err := provider.Create(ctx, newP(), spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != s.ID || len(f.State().Servers) != 1 {
		t.Errorf("create during disk_erasing gave %s, fake holds %d servers; want the reinstalling %s adopted", again.ID, len(f.State().Servers), s.ID)
	}
}

// TestFakeReinstallStatusesAreTheSpecs: the statuses the double passes a
// reinstall through are the OpenAPI document's server statuses.
func TestFakeReinstallStatusesAreTheSpecs(t *testing.T) {
	api := loadOpenAPI(t, referenceDir(t))
	enum, _ := dig(api.doc, "components", "schemas", "server_data", "properties", "attributes", "properties", "status", "enum").([]any)
	if len(enum) == 0 {
		t.Fatal("the OpenAPI document lists no server statuses")
	}
	f := fake.New(fake.Options{})
	srv := httptest.NewServer(f)
	defer srv.Close()
	ctx := context.Background()
	p, err := New(Config{Token: f.Token(), APIURL: srv.URL, ReadsPerMinute: -1, WritesPerMinute: -1})
	if err != nil {
		t.Fatal(err)
	}
	s, err := provider.Create(ctx, p, provider.ServerSpec{Cluster: "st", Hostname: "st-cp1", Plan: "c2-small-x86", Region: "DAL",
		Boot: provider.Boot{Method: provider.BootIPXE, URL: "https://pxe.test/boot.ipxe"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.Advance(time.Hour)
	if err := p.Client().Reinstall(ctx, s.ID, "ipxe", "st-cp1", "https://pxe.test/boot.ipxe"); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 40 {
		got, err := p.GetServer(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		seen[got.RawStatus] = true
		f.Advance(20 * time.Second)
	}
	for st := range seen {
		if !slices.Contains(enum, any(st)) {
			t.Errorf("reinstall passed through %q, not a status of the document (%v)", st, enum)
		}
	}
	for _, want := range []string{"on", "disk_erasing", "deploying"} {
		if !seen[want] {
			t.Errorf("reinstall never read %s (saw %v)", want, seen)
		}
	}
}
