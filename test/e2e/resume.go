// Package e2e drives the built cto binary against a simulated datacenter
// (test/sim): whole deploys, status, destroy and resume after a kill. Its
// one non-test file is what TestResumeAfterKill reports, for ./test/faults/report.
package e2e

// Environment of the resume test: how many kill-and-resume runs (default
// 20), and a file to write their outcomes to as JSON.
const (
	ResumeRunsEnv   = "CTO_E2E_RESUME_RUNS"
	ResumeReportEnv = "CTO_E2E_RESUME_REPORT"
)

// KillRun is one kill-and-resume run of TestResumeAfterKill, as the file
// ResumeReportEnv names holds it.
type KillRun struct {
	Seed       uint64  `json:"seed"`
	Nodes      int     `json:"nodes"`
	KillAfterS float64 `json:"kill_after_seconds"`
	// KilledIn is the step the journal had running when the process was
	// killed ("" before the journal existed, "finished" if the deploy
	// was already done).
	KilledIn string `json:"killed_in"`
	// ResumeS is how long the resuming run took.
	ResumeS    float64 `json:"resume_seconds"`
	Servers    int     `json:"servers"`
	Bootstraps int     `json:"bootstraps"`
	SameSecret bool    `json:"same_secrets"`
	Finished   bool    `json:"finished"`
	Error      string  `json:"error,omitempty"`
}
