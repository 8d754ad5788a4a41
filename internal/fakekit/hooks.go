package fakekit

import "sync"

// Hooks are callbacks a fake queues while it holds its lock and calls once
// it has let go of it, so a callback may call the fake again.
type Hooks struct{ queued []func() }

// Add queues h. Call it with the fake's lock held.
func (q *Hooks) Add(h func()) { q.queued = append(q.queued, h) }

// Run takes the queued hooks under mu, then calls them with mu released.
func (q *Hooks) Run(mu *sync.Mutex) {
	mu.Lock()
	hooks := q.queued
	q.queued = nil
	mu.Unlock()
	for _, h := range hooks {
		h()
	}
}
