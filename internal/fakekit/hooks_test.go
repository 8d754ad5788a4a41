package fakekit

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
)

func TestHooksRunInOrderOutsideTheLock(t *testing.T) {
	var mu sync.Mutex
	var q Hooks
	var got []int
	mu.Lock()
	for i := range 3 {
		// Each hook takes the lock: it would deadlock if Run held it.
		q.Add(func() { mu.Lock(); got = append(got, i); mu.Unlock() })
	}
	mu.Unlock()
	q.Run(&mu)
	if !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("hooks ran as %v, want 0, 1, 2 in order", got)
	}
	q.Run(&mu)
	if len(got) != 3 {
		t.Fatalf("a second Run called the hooks again: %v", got)
	}
}

func TestDoorCountsRequestsButNotTheSnapshot(t *testing.T) {
	var mu sync.Mutex
	var d Door
	snapshot := func() any { return map[string]int{"requests": d.Requests} }
	leave, ok := d.Enter(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, StatePath, nil), &mu, snapshot)
	if ok || leave != nil {
		t.Fatal("the state request was let in")
	}
	ran := false
	leave, ok = d.Enter(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/servers", nil), &mu, snapshot)
	if !ok {
		t.Fatal("an API request was turned away")
	}
	// Enter leaves the lock held; a hook queued now takes it again.
	d.Hooks.Add(func() { mu.Lock(); ran = true; mu.Unlock() })
	leave()
	if !ran || d.Requests != 1 {
		t.Fatalf("after leave: hook ran %v, requests %d; want true, 1", ran, d.Requests)
	}
}
