// Package events is what a run reports as it goes: steps starting and
// finishing, nodes changing state, messages and warnings. The live view,
// `-o json` and the run log read the same events.
package events

import (
	"sync"
	"time"
)

// Type names what happened.
type Type string

const (
	StepStarted  Type = "step_started"
	StepFinished Type = "step_finished"
	StepSkipped  Type = "step_skipped"
	StepFailed   Type = "step_failed"
	NodeUpdate   Type = "node"
	Message      Type = "message"
	Warning      Type = "warning"
)

// Event is one thing the UI may show. The JSON form is the stable NDJSON
// line of `-o json`.
type Event struct {
	Time    time.Time `json:"time"`
	Step    string    `json:"step,omitempty"`
	Node    string    `json:"node,omitempty"`
	Type    Type      `json:"event"`
	Message string    `json:"message,omitempty"`
	// Node fields, set on NodeUpdate events.
	Status string `json:"status,omitempty"`
	IP     string `json:"ip,omitempty"`
	// Elapsed is set on step_finished and step_failed.
	ElapsedSeconds float64 `json:"elapsed_seconds,omitempty"`
}

// Sink receives events. Implementations must be safe for concurrent use.
type Sink interface {
	Emit(Event)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(Event)

func (f SinkFunc) Emit(e Event) { f(e) }

// Discard drops every event.
var Discard Sink = SinkFunc(func(Event) {})

// Recorder keeps every event, for tests.
type Recorder struct {
	mu     sync.Mutex
	Events []Event
}

func (r *Recorder) Emit(e Event) {
	r.mu.Lock()
	r.Events = append(r.Events, e)
	r.mu.Unlock()
}

// Snapshot returns a copy of the recorded events.
func (r *Recorder) Snapshot() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.Events...)
}
