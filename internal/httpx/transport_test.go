package httpx

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestTransportRetriesReadsAndReplaysBodies(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if n.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("X-Echo", r.Header.Get("X-Test"))
		io.WriteString(w, r.Method+":"+string(body))
	}))
	defer srv.Close()
	clk := newStepClock()
	hc := &http.Client{Transport: New(Options{Clock: clk}).Transport()}
	req, _ := http.NewRequest(http.MethodPut, srv.URL, strings.NewReader("payload"))
	req.Header.Set("X-Test", "kept")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(got) != "PUT:payload" || resp.Header.Get("X-Echo") != "kept" {
		t.Fatalf("answer %d %q %v", resp.StatusCode, got, resp.Header)
	}
	if n.Load() != 3 {
		t.Fatalf("%d attempts, want 3", n.Load())
	}
}

func TestTransportNeverRepeatsAPostOnAServerError(t *testing.T) {
	srv, n := answering(t, http.StatusBadGateway)
	hc := &http.Client{Transport: New(Options{Clock: newStepClock()}).Transport()}
	resp, err := hc.Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || n.Load() != 1 {
		t.Fatalf("POST answered %d after %d attempts, want 502 after 1", resp.StatusCode, n.Load())
	}
}

func TestOneBudgetWithBurst(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	clk := newStepClock()
	// 30 requests a second, reads and writes alike, at most 30 at once.
	c := New(Options{Clock: clk, ReadsPerMinute: 1800, OneBudget: true, Burst: 30})
	for i := 0; i < 90; i++ {
		method := "GET"
		if i%2 == 1 {
			method = "POST"
		}
		if _, err := c.Do(context.Background(), Request{Method: method, URL: srv.URL}); err != nil {
			t.Fatal(err)
		}
	}
	// 30 at once, then 60 more at 30 a second.
	if got := clk.total(); got < 1900*time.Millisecond || got > 2100*time.Millisecond {
		t.Fatalf("90 mixed requests at 30/s with a burst of 30 waited %s, want about 2s", got)
	}
}

func TestRetryAfterLongerThanTheCapIsReturned(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	clk := newStepClock()
	c := New(Options{Clock: clk, MaxRetryAfter: time.Minute})
	resp, err := c.Do(context.Background(), Request{Method: "GET", URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusTooManyRequests || n.Load() != 1 || clk.total() != 0 {
		t.Fatalf("an hour's Retry-After: status %d after %d attempts and %s of waiting; want the 429 at once", resp.StatusCode, n.Load(), clk.total())
	}
}
