package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cto-platform/cto/test/faults"
)

func TestRenderShowsEveryCaseAndTheLeakTotal(t *testing.T) {
	r := &faults.Results{Date: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), Speed: 600, Seconds: 12, Cases: []faults.Result{
		{Name: "5xx burst", Area: "provider", Faults: "5 x 503", Expected: faults.Completes, Observed: "completed", Runs: 1, Pass: true},
		{Name: "broken | thing", Area: "talos", Expected: faults.StopsThenResumes, Observed: "stopped", Runs: 2, LeakedServers: 1, Message: "node `x` failed"},
	}, Kills: []faults.Kill{{Seed: 42, Target: "servers", Hit: true, AfterMillis: 1500, Step: "servers", Servers: 2, Resumed: true, Bootstraps: 1, BootstrapCalls: 1}}}
	md := Render(r)
	for _, want := range []string{"2 cases, 1 held", "**1** servers and VLANs", "**5xx burst**: 5 x 503", "**broken \\| thing**", "| **no** |",
		"node 'x' failed", "1 runs of a 3-node deploy", "1 kills landed", "Seed 42", "| servers | 1.5s | servers | 2 | completed | 0 | 1 | 0 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("the report does not show %q:\n%s", want, md)
		}
	}
}

func TestRunReplacesOnlyTheGeneratedPart(t *testing.T) {
	dir := t.TempDir()
	in, doc := filepath.Join(dir, "r.json"), filepath.Join(dir, "doc.md")
	os.WriteFile(in, []byte(`{"speed":600,"cases":[{"name":"c1","pass":true}]}`), 0o644)
	os.WriteFile(doc, []byte("# Title\nhand written\n"+begin+"\nold table\n"+end+"\ntail\n"), 0o644)
	resume := filepath.Join(dir, "resume.json")
	os.WriteFile(resume, []byte(`[{"seed":9,"hit":true,"killed_in":"servers","finished":true,"bootstrap_calls":1},{"seed":9,"hit":true,"killed_in":"talos","finished":true,"bootstrap_calls":1},`+
		`{"seed":9,"hit":false,"killed_in":"finished before the kill"},{"seed":9,"hit":true,"killed_in":"servers","finished":false,"bootstrap_calls":2}]`), 0o644)
	if err := run(in, resume, doc); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(doc)
	s := string(got)
	if !strings.Contains(s, "hand written") || !strings.Contains(s, "tail") || strings.Contains(s, "old table") || !strings.Contains(s, "**c1**") ||
		!strings.Contains(s, "3 kills landed") || !strings.Contains(s, "1 kill points came after it finished") ||
		!strings.Contains(s, "(2 of 3 with exactly one Bootstrap call)") || !strings.Contains(s, "Seed 9") ||
		!strings.Contains(s, "| servers | 2 | 1 | 1 |") || strings.Contains(s, "finished before the kill |") {
		t.Errorf("document after run:\n%s", s)
	}
}
