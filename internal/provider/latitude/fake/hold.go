package fake

import "sync"

// Held is a server whose create answer the double is holding back.
type Held struct {
	ID, Hostname string
}

// createHolds holds back the answers of the next creates.
type createHolds struct {
	mu      sync.Mutex
	next    int
	held    chan Held
	release chan struct{}
}

// HoldCreateAnswers makes the next n POST /servers create their server,
// then hold the answer until release is called: the window between a
// server existing at the provider and the client hearing its ID, where a
// crash leaves a server no journal names. Each held server is sent on
// held. While an answer is held the double is frozen (it keeps its lock,
// as a server stalled mid-request would), so call State only after
// release.
func (f *Fake) HoldCreateAnswers(n int) (held <-chan Held, release func()) {
	h := &f.holds
	h.mu.Lock()
	defer h.mu.Unlock()
	h.next = n
	h.held = make(chan Held, n)
	h.release = make(chan struct{})
	var once sync.Once
	rel := h.release
	return h.held, func() { once.Do(func() { close(rel) }) }
}

// holdCreateAnswer blocks a create's answer when one is to be held.
func (f *Fake) holdCreateAnswer(s *server) {
	h := &f.holds
	h.mu.Lock()
	if h.next <= 0 {
		h.mu.Unlock()
		return
	}
	h.next--
	held, release := h.held, h.release
	h.mu.Unlock()
	held <- Held{ID: s.ID, Hostname: s.Hostname}
	<-release
}
