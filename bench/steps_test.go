package main

import "testing"

// Steps that overlap are each timed from the deploy's start, not from
// their own start.
func TestStepTimesCountFromTheDeploysStart(t *testing.T) {
	events := []byte(`{"time":"2026-11-25T10:00:00Z","step":"validate","event":"step_started"}
{"time":"2026-11-25T10:00:01Z","step":"validate","event":"step_finished"}
{"time":"2026-11-25T10:00:01Z","step":"servers","event":"step_started"}
{"time":"2026-11-25T10:00:01Z","step":"talos","event":"step_started"}
{"time":"2026-11-25T10:10:01Z","step":"servers","event":"step_finished"}
not json
{"time":"2026-11-25T10:13:31Z","step":"talos","event":"step_finished"}
{"event":"summary"}
`)
	got := stepTimes(events)
	want := map[string]float64{"validate": 1, "servers": 601, "talos": 811}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s finished at %v s, want %v", k, got[k], v)
		}
	}
}
