package fakekit

import (
	"sync"
	"time"

	"github.com/cto-platform/cto/internal/clock"
)

// Offset is a double's time: its base clock (a simulated datacenter's
// scaled clock, or the wall clock) plus whatever Advance added, so a test
// can jump a double ahead without moving anyone else's time.
type Offset struct {
	Base clock.Clock

	mu sync.Mutex
	d  time.Duration
}

// Now is the base clock's time plus every Advance so far.
func (o *Offset) Now() time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.Base.Now().Add(o.d)
}

// Advance moves the double's time forward by d.
func (o *Offset) Advance(d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.d += d
}
