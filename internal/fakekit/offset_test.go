package fakekit

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestOffsetAddsToItsBase(t *testing.T) {
	base := NewClock()
	o := &Offset{Base: base}
	start := o.Now()
	o.Advance(time.Hour)
	base.Advance(time.Minute)
	if got := o.Now().Sub(start); got != time.Hour+time.Minute {
		t.Fatalf("moved %s, want the base's minute plus the advanced hour", got)
	}
}

func TestServeStateAnswersOnlyItsPath(t *testing.T) {
	snap := func() any { return map[string]int{"servers": 2} }
	rec := httptest.NewRecorder()
	if ServeState(rec, httptest.NewRequest(http.MethodGet, "/servers", nil), snap) {
		t.Fatal("ServeState answered an API path")
	}
	if ServeState(rec, httptest.NewRequest(http.MethodPost, StatePath, nil), snap) {
		t.Fatal("ServeState answered a POST")
	}
	rec = httptest.NewRecorder()
	if !ServeState(rec, httptest.NewRequest(http.MethodGet, StatePath, nil), snap) {
		t.Fatal("ServeState did not answer GET " + StatePath)
	}
	var got map[string]int
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got["servers"] != 2 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("answer %q (%s): %v", rec.Body, rec.Header().Get("Content-Type"), err)
	}
}
