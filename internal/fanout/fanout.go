// Package fanout runs one call per item side by side, a bounded number at
// a time, and reports every failure on one sorted line.
package fanout

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
)

// Errors are the failed calls of Each, sorted by their message.
type Errors []error

func (e Errors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap lets errors.Is and errors.As reach each failure.
func (e Errors) Unwrap() []error { return e }

// Each calls fn for every item, at most limit at a time (limit < 1: all
// at once), and waits for every call it started. Once ctx is done no new
// call starts. Failures come back as Errors, each prefixed "name: " when
// name is not nil; items skipped because ctx ended add its cause.
func Each[T any](ctx context.Context, limit int, items []T, name func(T) string, fn func(context.Context, T) error) error {
	if limit < 1 || limit > len(items) {
		limit = len(items)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		failed  Errors
		skipped bool
	)
	sem := make(chan struct{}, max(limit, 1))
	for _, item := range items {
		select {
		case sem <- struct{}{}:
			// Both may have been ready: a done ctx wins.
			if ctx.Err() != nil {
				<-sem
				skipped = true
			}
		case <-ctx.Done():
			skipped = true
		}
		if skipped {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(ctx, item); err != nil {
				if name != nil {
					err = &named{name: name(item), err: err}
				}
				mu.Lock()
				failed = append(failed, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	sort.SliceStable(failed, func(a, b int) bool { return failed[a].Error() < failed[b].Error() })
	switch {
	case skipped && len(failed) == 0:
		return context.Cause(ctx)
	case skipped:
		return errors.Join(context.Cause(ctx), failed)
	case len(failed) > 0:
		return failed
	}
	return nil
}

// named is a failure with the name of its item in front.
type named struct {
	name string
	err  error
}

func (n *named) Error() string { return n.name + ": " + n.err.Error() }
func (n *named) Unwrap() error { return n.err }
