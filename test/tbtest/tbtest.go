// Package tbtest is a testing.TB that records how a helper ended, for
// tests of helpers that skip or fail the test that calls them.
package tbtest

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
)

// Recorder notes whether the helper skipped or failed and with what
// message, stopping the goroutine as testing.T does.
type Recorder struct {
	testing.TB
	skipped, failed bool
	Msg             string
	cleanups        []func()
}

// Run calls helper with a fresh Recorder on a goroutine of its own (a skip
// or failure ends that goroutine) and returns the Recorder once it ended
// and the cleanups it registered ran, last first, as testing.T runs them.
func Run(helper func(testing.TB)) *Recorder {
	r := &Recorder{}
	done := make(chan struct{})
	go func() { defer close(done); helper(r) }()
	<-done
	for _, f := range slices.Backward(r.cleanups) {
		f()
	}
	return r
}

func (r *Recorder) Helper()          {}
func (r *Recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *Recorder) Skipped() bool    { return r.skipped }
func (r *Recorder) Failed() bool     { return r.failed }

func (r *Recorder) Skip(args ...any)                  { r.end(&r.skipped, fmt.Sprint(args...)) }
func (r *Recorder) Skipf(format string, args ...any)  { r.end(&r.skipped, fmt.Sprintf(format, args...)) }
func (r *Recorder) Fatal(args ...any)                 { r.end(&r.failed, fmt.Sprint(args...)) }
func (r *Recorder) Fatalf(format string, args ...any) { r.end(&r.failed, fmt.Sprintf(format, args...)) }

// end notes how the helper ended and stops its goroutine, as testing.T
// does.
func (r *Recorder) end(how *bool, msg string) {
	*how, r.Msg = true, msg
	runtime.Goexit()
}
