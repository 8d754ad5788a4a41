package fake

import (
	"fmt"
	"net/http"
	"net/http/httptest"
)

// nameTaken answers a create whose name another object of its kind holds,
// as the OpenAPI document's POST /tags 422 example does: code
// NAME_ALREADY_TAKEN, detail "is already taken", pointer to the name.
func nameTaken(w http.ResponseWriter) {
	writeTyped(w, http.StatusUnprocessableEntity, "application/json; charset=utf-8", map[string]any{"errors": []map[string]any{{
		"code": "NAME_ALREADY_TAKEN", "status": "422", "detail": "is already taken",
		"source": map[string]any{"pointer": "/data/attributes/name"}}}})
}

// loseAnswer carries out a write whose route LoseAnswers names and answers
// 502 instead of its answer, as a proxy losing it would; it reports
// whether it did.
func (f *Fake) loseAnswer(w http.ResponseWriter, r *http.Request, route string) bool {
	f.mu.Lock()
	n := f.faults.LoseAnswers[route]
	if n > 0 {
		f.faults.LoseAnswers[route] = n - 1
		f.sent5xx++
	}
	f.mu.Unlock()
	if n <= 0 {
		return false
	}
	f.mux.ServeHTTP(httptest.NewRecorder(), r)
	writeError(w, http.StatusBadGateway, "BAD_GATEWAY", "Bad Gateway", fmt.Sprintf("the upstream answer to %s was lost", route))
	return true
}
