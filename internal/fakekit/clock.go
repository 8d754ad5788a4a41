// Package fakekit holds what the API doubles share: simulated time (a
// clock that moves only when advanced or slept on, and an offset over
// another clock), slow answers, hooks called outside a double's lock, the
// state snapshot every double serves at GET /_fake/state, and the door a
// double's requests pass through to all of these.
package fakekit

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// Clock is simulated time. Sleeping on it advances it at once, so a
// provider that waits for a fake server to boot runs in microseconds, and
// the fake sees exactly the time the provider waited.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts simulated time at a fixed instant.
func NewClock() *Clock {
	return &Clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// Now is the simulated time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves simulated time forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Sleep advances the clock by d instead of waiting.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}

// Latency holds a double's answers back by a set time of real time, as a
// slow API would. Safe for concurrent use.
type Latency struct {
	mu sync.Mutex
	d  time.Duration
}

// Set makes every later answer wait d first.
func (l *Latency) Set(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.d = d
}

// Wait waits the set time and reports false when the request was given
// up meanwhile.
func (l *Latency) Wait(r *http.Request) bool {
	l.mu.Lock()
	d := l.d
	l.mu.Unlock()
	if d <= 0 {
		return true
	}
	select {
	case <-time.After(d):
		return true
	case <-r.Context().Done():
		return false
	}
}

// Advance moves c forward by d when it is a simulated clock; a clock that
// follows the wall clock (scaled or not) moves by itself.
func Advance(c interface{ Now() time.Time }, d time.Duration) {
	if a, ok := c.(interface{ Advance(time.Duration) }); ok {
		a.Advance(d)
	}
}
