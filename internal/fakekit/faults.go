package fakekit

import (
	"net/http"
	"strconv"
	"sync"
)

// Fault is one answer a double gives in place of the API's: its status,
// the error code the API names (each double writes it in its own error
// format) and a Retry-After in seconds (0: none).
type Fault struct {
	Status     int
	Code       string
	RetryAfter int
}

// Faults is a queue of injected answers; each answers one request, in the
// order they were added. Safe for concurrent use.
type Faults struct {
	mu    sync.Mutex
	queue []Fault
}

// Add queues n answers of f.
func (q *Faults) Add(n int, f Fault) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for range n {
		q.queue = append(q.queue, f)
	}
}

// Next takes the answer for this request, if one is queued, and sets its
// Retry-After header on w.
func (q *Faults) Next(w http.ResponseWriter) (Fault, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.queue) == 0 {
		return Fault{}, false
	}
	f := q.queue[0]
	q.queue = q.queue[1:]
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
	}
	return f, true
}

// Pending is how many injected answers are left.
func (q *Faults) Pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.queue)
}
