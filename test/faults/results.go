// Package faults is the fault matrix: the built cto binary against the
// simulated datacenter with one fault, or several, injected per case. Each
// case writes down what must happen (the deploy completes, or stops with a
// clear message and a rerun completes) and asserts it, then destroys the
// cluster and asserts the datacenter holds nothing. With ResultsEnv set the
// run writes its results as JSON; ./report renders them as
// docs/RELIABILITY.md.
package faults

import (
	"encoding/json"
	"os"
	"time"
)

// ResultsEnv names the file the matrix writes its results to.
const ResultsEnv = "CTO_FAULTS_RESULTS"

// FullEnv runs the whole matrix instead of the default subset.
const FullEnv = "CTO_FULL_FAULTS"

// Outcome is what a case expects of the first deploy.
type Outcome string

const (
	// Completes: the deploy ends well despite the fault.
	Completes Outcome = "completes"
	// StopsThenResumes: the deploy stops with a clear message, keeps the
	// journal and says what is billing; after the fault clears, the same
	// command completes.
	StopsThenResumes Outcome = "stops, rerun completes"
	// Refused: the command is refused with a clear message and changes
	// nothing.
	Refused Outcome = "refused, nothing changed"
)

// Result is one case of a run.
type Result struct {
	Name     string  `json:"name"`
	Area     string  `json:"area"` // provider, talos, kubernetes, local
	Faults   string  `json:"faults"`
	Expected Outcome `json:"expected"`
	// Observed describes what happened, in words ("completed", "stopped in
	// network: ...; rerun completed").
	Observed string `json:"observed"`
	Message  string `json:"message,omitempty"` // the stop message, trimmed
	Pass     bool   `json:"pass"`
	// Runs is how many deploys it took (1 when it completed at once).
	Runs int `json:"runs"`
	// Replaced counts servers replaced because they failed or got stuck.
	Replaced int `json:"replaced"`
	// RateLimited and ServerErrors are the provider's injected answers.
	RateLimited  int `json:"rate_limited"`
	ServerErrors int `json:"server_errors"`
	// Untracked is what the provider held that the journal did not know
	// after the first run (must be 0).
	Untracked int `json:"untracked"`
	// LeakedServers and LeakedVLANs are what the provider still held after
	// `cto destroy --yes` (must be 0).
	LeakedServers int     `json:"leaked_servers"`
	LeakedVLANs   int     `json:"leaked_vlans"`
	Seconds       float64 `json:"seconds"`
}

// Kill is one crash-resume run: cto killed with SIGKILL at a point, then
// run again.
type Kill struct {
	// Seed drew the kill points of the run (CTO_CRASH_SEED replays it).
	Seed uint64 `json:"seed"`
	// Target is the step the kill aimed at; Hit is the kill landing
	// before the deploy finished.
	Target      string `json:"target"`
	Hit         bool   `json:"hit"`
	AfterMillis int    `json:"after_ms"`
	Step        string `json:"step"` // the steps the journal shows running after the kill
	Servers     int    `json:"servers_at_kill"`
	Resumed     bool   `json:"resumed"` // the rerun completed
	Duplicates  int    `json:"duplicate_servers"`
	Bootstraps  int    `json:"bootstraps"`
	// BootstrapCalls counts Bootstrap calls over every node and both runs.
	BootstrapCalls int `json:"bootstrap_calls"`
	Leaked         int `json:"leaked_after_destroy"`
}

// Results is a whole run of the matrix.
type Results struct {
	Date    time.Time `json:"date"`
	Full    bool      `json:"full"`
	Speed   float64   `json:"speed"`
	Cases   []Result  `json:"cases"`
	Kills   []Kill    `json:"kills"`
	Seconds float64   `json:"seconds"`
}

// Load reads a results file.
func Load(path string) (*Results, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Results
	return &r, json.Unmarshal(data, &r)
}
