// Package clock is the time source of everything that waits, so tests and
// benchmarks can run minutes of provider time in milliseconds.
package clock

import (
	"context"
	"time"
)

// Clock is a time source.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx ends, returning ctx's error then.
	Sleep(ctx context.Context, d time.Duration) error
}

// Real is wall-clock time.
type Real struct{}

func (Real) Now() time.Time { return time.Now() }

func (Real) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Scaled runs time faster by Factor: a Sleep of a minute with Factor 600
// takes 100ms, and Now advances 600 times as fast as the wall clock.
type Scaled struct {
	Start  time.Time
	Origin time.Time
	Factor float64
}

// NewScaled returns a clock that starts now and runs factor times faster.
func NewScaled(factor float64) *Scaled {
	now := time.Now()
	return &Scaled{Start: now, Origin: now, Factor: factor}
}

func (s *Scaled) Now() time.Time {
	return s.Origin.Add(time.Duration(float64(time.Since(s.Start)) * s.Factor))
}

func (s *Scaled) Sleep(ctx context.Context, d time.Duration) error {
	return Real{}.Sleep(ctx, time.Duration(float64(d)/s.Factor))
}

// Wall is how much wall-clock time d of clock c takes, for timeouts that
// the standard library measures on the wall clock (a context deadline).
func Wall(c Clock, d time.Duration) time.Duration {
	if s, ok := c.(*Scaled); ok && s.Factor > 0 {
		return time.Duration(float64(d) / s.Factor)
	}
	return d
}
