package fakekit

import (
	"net/http"
	"sync"
)

// Door is what every request to a double passes before the double's own
// rules: the latency it answers with, the state snapshot, the count of
// requests and the hooks queued while the double holds its lock.
type Door struct {
	Slow  Latency
	Hooks Hooks
	// Requests is how many requests came in; guarded by the double's lock.
	Requests int
}

// Enter waits out the latency and answers GET StatePath with snapshot().
// Any other request it counts under mu, which it leaves held, and reports
// ok: the double answers the request and then calls leave, which lets go
// of mu and runs the hooks queued meanwhile, so a hook may call the double
// again. ok is false when r is answered already or was given up.
func (d *Door) Enter(w http.ResponseWriter, r *http.Request, mu *sync.Mutex, snapshot func() any) (leave func(), ok bool) {
	if !d.Slow.Wait(r) || ServeState(w, r, snapshot) {
		return nil, false
	}
	mu.Lock()
	d.Requests++
	return func() {
		mu.Unlock()
		d.Hooks.Run(mu)
	}, true
}
