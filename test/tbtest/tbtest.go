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
