package fake

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// RequestTypes is the data.type each write demands, by route, as the
// OpenAPI document's request schemas enumerate it (reference_test.go in
// package latitude checks the table against the document).
var RequestTypes = map[string]string{
	"POST /projects":                     "projects",
	"POST /tags":                         "tags",
	"POST /ssh_keys":                     "ssh_keys",
	"POST /servers":                      "servers",
	"PATCH /servers/{id}":                "servers",
	"POST /servers/{id}/reinstall":       "reinstalls",
	"POST /servers/{id}/actions":         "actions",
	"POST /virtual_networks":             "virtual_network",
	"PATCH /virtual_networks/{id}":       "virtual_networks",
	"POST /virtual_networks/assignments": "virtual_network_assignment",
}

// checkType reads {"data":{"type","attributes"}} into v, answering 422 and
// returning false when the body is not JSON, lacks attributes or names
// another data.type than the route's.
func (f *Fake) checkType(w http.ResponseWriter, r *http.Request, want string, v any) bool {
	var req struct {
		Data struct {
			Type       string          `json:"type"`
			Attributes json.RawMessage `json:"attributes"`
		} `json:"data"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		invalid(w, fmt.Sprintf("body is not JSON: %v", err))
		return false
	}
	if req.Data.Type != want {
		writeErrorAt(w, http.StatusUnprocessableEntity, "VALIDATION_ERROR", "Validation Error",
			fmt.Sprintf("data.type must be %q, not %q", want, req.Data.Type), "/data/type")
		return false
	}
	if len(req.Data.Attributes) == 0 {
		invalid(w, "data.attributes is required")
		return false
	}
	if err := json.Unmarshal(req.Data.Attributes, v); err != nil {
		invalid(w, err.Error())
		return false
	}
	return true
}

// typed reads a write's body as checkType does, with the data.type of the
// request's route in RequestTypes.
func (f *Fake) typed(w http.ResponseWriter, r *http.Request, v any) bool {
	return f.checkType(w, r, RequestTypes[r.Pattern], v)
}

// withBody decodes the request's attributes into v as typed does and,
// when they are taken, runs fn with the fake locked.
func (f *Fake) withBody(w http.ResponseWriter, r *http.Request, v any, fn func()) {
	if !f.typed(w, r, v) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

// writeErrorAt is writeError with the JSON pointer of the offending
// attribute, as the OpenAPI document's error examples carry it
// (source.pointer "/data/attributes/name").
func writeErrorAt(w http.ResponseWriter, status int, code, title, detail, pointer string) {
	writeTyped(w, status, "application/json; charset=utf-8", map[string]any{"errors": []map[string]any{{
		"code": code, "status": fmt.Sprint(status), "title": title, "detail": detail,
		"source": map[string]any{"pointer": pointer}, "meta": map[string]any{}}}})
}
