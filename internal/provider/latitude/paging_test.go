package latitude

import (
	"context"
	"fmt"
	"testing"

	"github.com/cto-platform/cto/internal/provider/latitude/fake"
)

// TestListsReadPastAPageSizeCap: an API that answers fewer rows per page
// than asked is read to the end, not one page deep.
func TestListsReadPastAPageSizeCap(t *testing.T) {
	const n = 45
	f, p := withServers(t, 20, "cap", n)
	ctx := context.Background()
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

// TestListsEndOnTheEmptyPagePastAStaleTotal: a total counted before
// resources were deleted between two page reads is larger than the list.
// The client asks for the page past the end the total promises, takes the
// empty page as the end, and neither fails nor asks again.
func TestListsEndOnTheEmptyPagePastAStaleTotal(t *testing.T) {
	for _, c := range []struct {
		name      string
		cap, rows int
		pages     int // GET /servers calls: every page, then the empty one
	}{
		{"one page", 0, 3, 2},
		{"pages capped at 20", 20, 45, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, p := withServers(t, c.cap, "st", c.rows)
			ctx := context.Background()
			f.SetFaults(func(x *fake.Faults) { x.StaleTotal = 2 })
			before, pastBefore := f.State().Requests["GET /servers"], f.Fired().PastEnd
			got, err := p.ListServers(ctx, "st")
			if err != nil {
				t.Fatal(err)
			}
			calls, past := f.State().Requests["GET /servers"]-before, f.Fired().PastEnd-pastBefore
			if len(got) != c.rows || calls != c.pages || past != 1 {
				t.Errorf("listed %d of %d servers in %d calls, %d past the end; want all in %d calls, one past the end",
					len(got), c.rows, calls, past, c.pages)
			}
		})
	}
}

// withServers is a provider on a double that caps pages at pageCap rows
// (0: no cap) and holds n servers of cluster.
func withServers(t *testing.T, pageCap int, cluster string, n int) (*fake.Fake, *Provider) {
	t.Helper()
	f, base := serveFake(t, fake.Options{PageSizeCap: pageCap})
	p := providerOn(t, f, base, Config{ReadsPerMinute: -1, WritesPerMinute: -1})
	for i := range n {
		mustCreate(t, p, ipxeServer(cluster, fmt.Sprintf("%s-%02d", cluster, i), "https://pxe.test/x"))
	}
	return f, p
}
