package s3store

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Fault is what the proxy does to one request.
type Fault int

const (
	// Pass forwards the request and its answer.
	Pass Fault = iota
	// DropAnswer forwards the request, lets the store act on it, then
	// cuts the connection instead of answering: the client cannot tell
	// whether its write happened.
	DropAnswer
	// DropRequest cuts the connection before the store sees the request.
	DropRequest
	// Delay forwards the request after Proxy.Delay.
	Delay
	// IgnoreConditions turns the store's 412 answer to a conditional
	// write into 200, as a store that ignores If-None-Match / If-Match
	// answers.
	IgnoreConditions
)

// Proxy sits between clients and a store on a loopback port and injects
// faults chosen per request by Decide.
type Proxy struct {
	URL   string
	Delay time.Duration

	mu     sync.Mutex
	decide func(r *http.Request) Fault
	// Fired counts the faults injected, so a test can assert they happened.
	Fired atomic.Int64
}

// NewProxy starts a proxy in front of endpoint, stopped when the test ends.
func NewProxy(t testing.TB, endpoint string) *Proxy {
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := p.fault(r)
		if f != Pass {
			p.Fired.Add(1)
		}
		switch f {
		case DropRequest:
			hijackClose(w)
			return
		case Delay:
			time.Sleep(p.Delay)
		case DropAnswer:
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			hijackClose(w)
			return
		case IgnoreConditions:
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			if rec.Code == http.StatusPreconditionFailed {
				w.Header().Set("ETag", `"00000000000000000000000000000000"`)
				w.WriteHeader(http.StatusOK)
				return
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// Decide sets the function choosing each request's fault (nil: Pass).
func (p *Proxy) Decide(fn func(r *http.Request) Fault) {
	p.mu.Lock()
	p.decide = fn
	p.mu.Unlock()
}

func (p *Proxy) fault(r *http.Request) Fault {
	p.mu.Lock()
	fn := p.decide
	p.mu.Unlock()
	if fn == nil {
		return Pass
	}
	return fn(r)
}

func hijackClose(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
