package faults

import (
	"encoding/json"
	"os"
	"sync"
	"time"
)

var (
	resultsMu sync.Mutex
	results   = Results{Date: time.Now().UTC(), Speed: speed}
	started   = time.Now()
)

func record(r Result) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	results.Cases = append(results.Cases, r)
}

func recordKill(k Kill) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	results.Kills = append(results.Kills, k)
}

// writeResults writes the run's results where ResultsEnv says, if it does.
func writeResults() error {
	path := os.Getenv(ResultsEnv)
	if path == "" {
		return nil
	}
	resultsMu.Lock()
	defer resultsMu.Unlock()
	results.Full = full()
	results.Seconds = time.Since(started).Seconds()
	data, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
