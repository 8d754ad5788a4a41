package state

import (
	"encoding/json"
	"maps"
	"testing"
)

// TestFactsKeepTheirFlatForm: the facts of a journal written before they
// were typed load into their fields, and saving writes the same flat
// object, keys this version does not know included.
func TestFactsKeepTheirFlatForm(t *testing.T) {
	old := `{"region":"DAL","cost_monthly":"438.00","currency":"USD","talos.endpoint":"203.0.113.10","talos.bootstrap":"done",` +
		`"talos.schematic.c0ffee":"376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba","cheapest.choice":"{}","a.later.fact":"kept"}`
	var f Facts
	if err := json.Unmarshal([]byte(old), &f); err != nil {
		t.Fatal(err)
	}
	if f.Region != "DAL" || f.CostMonthly != "438.00" || f.Endpoint != "203.0.113.10" || f.Bootstrap != "done" || f.CheapestChoice != "{}" ||
		f.Schematics["c0ffee"] != "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba" {
		t.Errorf("loaded facts = %+v", f)
	}
	again, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var want, got map[string]string
	_ = json.Unmarshal([]byte(old), &want)
	if err := json.Unmarshal(again, &got); err != nil || !maps.Equal(got, want) {
		t.Errorf("saved facts = %s, want the object they were loaded from %s", again, old)
	}
	if b, _ := json.Marshal(struct {
		Facts Facts `json:"facts,omitzero"`
	}{}); string(b) != "{}" {
		t.Errorf("a journal without facts writes %s, want none", b)
	}
}
