// Package tbtest is a testing.TB that records how a helper ended, for
// tests of helpers that skip or fail the test that calls them.
package tbtest

import (
	"fmt"
	"runtime"
	"testing"
)

// Recorder notes whether the helper skipped or failed and with what
// message, stopping the goroutine as testing.T does.
type Recorder struct {
	testing.TB
	skipped, failed bool
	Msg             string
}

// Run calls helper with a fresh Recorder on a goroutine of its own (a skip
// or failure ends that goroutine) and returns the Recorder once it ended.
func Run(helper func(testing.TB)) *Recorder {
	r := &Recorder{}
	done := make(chan struct{})
	go func() { defer close(done); helper(r) }()
	<-done
	return r
}

func (r *Recorder) Helper()          {}
func (r *Recorder) Cleanup(f func()) {}
func (r *Recorder) Skipped() bool    { return r.skipped }
func (r *Recorder) Failed() bool     { return r.failed }

func (r *Recorder) Skip(args ...any) {
	r.skipped, r.Msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *Recorder) Skipf(format string, args ...any) {
	r.skipped, r.Msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *Recorder) Fatal(args ...any) {
	r.failed, r.Msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *Recorder) Fatalf(format string, args ...any) {
	r.failed, r.Msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
