package hetzner

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/cto-platform/cto/internal/clock"
)

// budgetReserve is how many requests of the project's hourly budget (3600,
// refilled one per second, shared with everything else in the project) cto
// leaves untouched at full speed; below it, requests go out at the refill
// rate so a long wait never drains the budget to a hard 429.
const budgetReserve = 100

// budget is a RoundTripper that reads the RateLimit headers and, once the
// remaining budget is low, spaces requests one refill interval apart.
type budget struct {
	next  http.RoundTripper
	clock clock.Clock

	mu        sync.Mutex
	remaining int // -1: not known yet
	last      time.Time
	known     bool
}

func (b *budget) RoundTrip(req *http.Request) (*http.Response, error) {
	b.mu.Lock()
	var wait time.Duration
	if b.known && b.remaining < budgetReserve {
		if next := b.last.Add(time.Second); next.After(b.clock.Now()) {
			wait = next.Sub(b.clock.Now())
		}
	}
	b.last = b.clock.Now().Add(wait)
	b.mu.Unlock()
	if wait > 0 {
		if err := b.clock.Sleep(req.Context(), wait); err != nil {
			return nil, err
		}
	}
	next := b.next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(req)
	if err == nil {
		if v, perr := strconv.Atoi(resp.Header.Get("RateLimit-Remaining")); perr == nil {
			b.mu.Lock()
			b.remaining, b.known = v, true
			b.mu.Unlock()
		}
	}
	return resp, err
}
