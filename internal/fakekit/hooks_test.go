package fakekit

import (
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
