package fakekit

import (
	"context"
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

func TestLatencyHoldsAnswersUntilTheRequestIsGivenUp(t *testing.T) {
	var l Latency
	if !l.Wait(httptest.NewRequest(http.MethodGet, "/", nil)) {
		t.Fatal("no latency set, yet Wait gave up")
	}
	l.Set(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if l.Wait(httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)) {
		t.Fatal("Wait went on for a request that was given up")
	}
}

func TestFaultsAnswerInOrderWithRetryAfter(t *testing.T) {
	var q Faults
	q.Add(1, Fault{Status: http.StatusTooManyRequests, RetryAfter: 3})
	q.Add(1, Fault{Status: http.StatusBadGateway})
	rec := httptest.NewRecorder()
	if f, ok := q.Next(rec); !ok || f.Status != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "3" {
		t.Fatalf("first = %+v %v, Retry-After %q", f, ok, rec.Header().Get("Retry-After"))
	}
	rec = httptest.NewRecorder()
	if f, ok := q.Next(rec); !ok || f.Status != http.StatusBadGateway || rec.Header().Get("Retry-After") != "" {
		t.Fatalf("second = %+v %v, Retry-After %q", f, ok, rec.Header().Get("Retry-After"))
	}
	if _, ok := q.Next(httptest.NewRecorder()); ok || q.Pending() != 0 {
		t.Fatal("an answer was left after both were taken")
	}
}
