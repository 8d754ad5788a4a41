package fake

import "sync/atomic"

// fired counts the faults the double applied, so a test can show that a
// fault it set actually reached the client (a fault never applied proves
// nothing about how cto handles it).
type fired struct {
	slow          atomic.Int64
	unknownStatus atomic.Int64
	clampedPages  atomic.Int64
	pastEnd       atomic.Int64
}

// Fired is how often each fault without a State counter was applied.
type Fired struct {
	// Slow answers delayed by SlowLatency.
	Slow int
	// UnknownStatus: times a server was reported with Faults.UnknownStatus.
	UnknownStatus int
	// ClampedPages: pages past the end answered with the last page.
	ClampedPages int
	// PastEnd: pages asked for past the end of a list (page 2 or later
	// starting beyond the last row), whatever the faults.
	PastEnd int
}

// Fired returns the counts of applied faults.
func (f *Fake) Fired() Fired {
	return Fired{Slow: int(f.fired.slow.Load()), UnknownStatus: int(f.fired.unknownStatus.Load()), ClampedPages: int(f.fired.clampedPages.Load()),
		PastEnd: int(f.fired.pastEnd.Load())}
}
