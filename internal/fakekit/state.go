package fakekit

import (
	"encoding/json"
	"net/http"
)

// StatePath is where every double serves its state snapshot, for tests
// and the simulated datacenter to assert on from the double's side.
const StatePath = "/_fake/state"

// ServeState answers GET StatePath with snapshot() as JSON and reports
// whether r was that request.
func ServeState(w http.ResponseWriter, r *http.Request, snapshot func() any) bool {
	if r.Method != http.MethodGet || r.URL.Path != StatePath {
		return false
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(snapshot())
	return true
}
