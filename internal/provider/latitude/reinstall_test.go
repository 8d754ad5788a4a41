package latitude

import (
	"context"
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
	f, base := serveFake(t, fake.Options{})
	ctx := context.Background()
	newP := func() *Provider { return providerOn(t, f, base, Config{ReadsPerMinute: -1, WritesPerMinute: -1}) }
	spec := ipxeServer("erase", "erase-cp1", "https://pxe.test/boot.ipxe")
	p := newP()
	s := deployedThenReinstalled(t, f, p, spec)
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
	f, base := serveFake(t, fake.Options{})
	ctx := context.Background()
	p := providerOn(t, f, base, Config{ReadsPerMinute: -1, WritesPerMinute: -1})
	s := deployedThenReinstalled(t, f, p, ipxeServer("st", "st-cp1", "https://pxe.test/boot.ipxe"))
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

// deployedThenReinstalled orders spec's server through p, lets it deploy
// and sends it to reinstall with spec's iPXE URL.
func deployedThenReinstalled(t *testing.T, f *fake.Fake, p *Provider, spec provider.ServerSpec) provider.Server {
	t.Helper()
	s := mustCreate(t, p, spec)
	f.Advance(time.Hour)
	if err := p.Client().Reinstall(context.Background(), s.ID, "ipxe", spec.Hostname, spec.Boot.URL); err != nil {
		t.Fatal(err)
	}
	return s
}
