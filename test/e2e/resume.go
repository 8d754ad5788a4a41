// Package e2e drives the built cto binary against a simulated datacenter
// (test/sim): whole deploys, status, destroy and resume after a kill. Its
// one non-test file is what TestResumeAfterKill reports, for ./test/faults/report.
package e2e

// Environment of the resume test: how many kill-and-resume runs (default
// ResumeRunsDefault), a file to write their outcomes to as JSON, and a seed
// to replay (default: the clock; the test logs the one it used).
const (
	ResumeRunsEnv   = "CTO_E2E_RESUME_RUNS"
	ResumeReportEnv = "CTO_E2E_RESUME_REPORT"
	ResumeSeedEnv   = "CTO_E2E_RESUME_SEED"
)

// ResumeRunsDefault is how many kills TestResumeAfterKill lands unless
// ResumeRunsEnv says otherwise.
const ResumeRunsDefault = 6

// KillRun is one attempt of TestResumeAfterKill, as the file
// ResumeReportEnv names holds it. An attempt whose deploy finished before
// the kill is kept with Hit false and not resumed: the run draws another
// kill point.
type KillRun struct {
	// Seed is the test's seed (ResumeSeedEnv replays it); Run numbers
	// the run within it and Attempt the kill point drawn for that run.
	Seed          uint64  `json:"seed"`
	Run           int     `json:"run"`
	Attempt       int     `json:"attempt"`
	Nodes         int     `json:"nodes"`
	ControlPlanes int     `json:"control_planes"`
	KillAfterS    float64 `json:"kill_after_seconds"`
	// Hit is true when the SIGKILL landed while the deploy still ran.
	Hit bool `json:"hit"`
	// KilledIn is the steps the journal had running when the process was
	// killed, joined with "+" ("" before the journal existed, "between
	// steps" when none ran, "finished before the kill" for a miss).
	KilledIn string `json:"killed_in"`
	// ResumeS is how long the resuming run took.
	ResumeS    float64 `json:"resume_seconds"`
	Servers    int     `json:"servers"`
	Bootstraps int     `json:"bootstraps"`
	// BootstrapCalls counts the Bootstrap calls every node of the
	// cluster got over both runs, refused ones included.
	BootstrapCalls int    `json:"bootstrap_calls"`
	SameSecret     bool   `json:"same_secrets"`
	Finished       bool   `json:"finished"`
	Error          string `json:"error,omitempty"`
}
