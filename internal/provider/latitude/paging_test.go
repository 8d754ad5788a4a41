package latitude

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/latitude/fake"
)

// TestListsReadPastAPageSizeCap: an API that answers fewer rows per page
// than asked is read to the end, not one page deep.
func TestListsReadPastAPageSizeCap(t *testing.T) {
	f := fake.New(fake.Options{PageSizeCap: 20})
	srv := httptest.NewServer(f)
	defer srv.Close()
	p, err := New(Config{Token: f.Token(), APIURL: srv.URL, ReadsPerMinute: -1, WritesPerMinute: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const n = 45
	for i := range n {
		if _, err := p.CreateServer(ctx, provider.ServerSpec{Cluster: "cap", Hostname: fmt.Sprintf("cap-%02d", i), Plan: "c2-small-x86",
			Region: "DAL", Boot: provider.Boot{Method: provider.BootIPXE, URL: "https://pxe.test/x"}}); err != nil {
			t.Fatal(err)
		}
	}
	before := f.State().Requests["GET /servers"]
	got, err := p.ListServers(ctx, "cap")
	if err != nil {
		t.Fatal(err)
	}
	calls := f.State().Requests["GET /servers"] - before
	if len(got) != n {
		t.Fatalf("listed %d of %d servers through pages capped at 20", len(got), n)
	}
	// The total the API reports ends the listing: three pages, no fourth.
	if calls != 3 {
		t.Errorf("listing took %d calls, want 3", calls)
	}
}
