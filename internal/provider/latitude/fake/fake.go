// Package fake is a stateful double of the Latitude.sh API, served as an
// http.Handler. It speaks the recorded wire format (envelope, vnd.api+json,
// error objects, 1-based pagination of 20 rows by default, prefixed IDs),
// moves servers through their lifecycle on a simulated clock, and injects
// the faults the live API shows: 429 with Retry-After, 5xx bursts, slow
// answers, failed and stuck deployments, stock-outs and off-spec statuses.
package fake

import (
	"encoding/json"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/fakekit"
)

// Options configure a Fake.
type Options struct {
	// Token is the API key the fake accepts, raw or as "Bearer <token>"
	// (default "fake-token").
	Token string
	// Clock is the simulated time servers deploy on (default the wall
	// clock); Advance adds to it.
	Clock clock.Clock
	// DeployTime is how long a create takes to reach "on" (default 10m).
	DeployTime time.Duration
	// ConnectTime is how long a VLAN assignment stays "connecting"
	// (default 30s).
	ConnectTime time.Duration
	// IPBase is the first primary_ipv4 handed out (default 127.20.0.10), so
	// fake nodes can listen on those loopback addresses.
	IPBase string
	// Seed makes the injected faults repeatable.
	Seed uint64
	// OnDeployed is called once each time a server finishes deploying (it
	// reaches "on", after a create or a reinstall), before the request that
	// first sees it is answered: a simulated datacenter boots the server's
	// iPXE target there. OnDeleted is called when a server is deleted.
	OnDeployed func(ServerState)
	OnDeleted  func(ServerState)
	// PageSizeCap answers at most this many rows per page whatever
	// page[size] asks (0: no cap), as an API with a lower maximum would.
	PageSizeCap int
	// Quota answers 429 past a per-minute budget (quota.go); zero is
	// unlimited.
	Quota Quota
	// IPXEAtCreate are the plan slugs that take operating_system ipxe in
	// a create (nil: DefaultIPXEAtCreate, ipxe.go).
	IPXEAtCreate []string
	// NoDHCP is an account whose custom images boot without DHCP: the
	// platform fills the address placeholders of an iPXE script before it
	// runs (boot.go), and nothing else gives the booted system an address.
	NoDHCP bool
}

// Faults are the failures the fake injects; change them with SetFaults.
type Faults struct {
	// RateLimitRate is the share of requests answered 429 (0..1), with
	// Retry-After RetryAfterSeconds (default 1).
	RateLimitRate     float64
	RetryAfterSeconds int
	// ServerErrorBurst answers the next N requests 503.
	ServerErrorBurst int
	// Latency delays every answer (wall time).
	Latency time.Duration
	// FailNext makes the next N created servers end in failed_deployment.
	FailNext int
	// FailHostnames makes the next N creates of a hostname fail.
	FailHostnames map[string]int
	// StuckNext and StuckHostnames make servers deploy forever.
	StuckNext      int
	StuckHostnames map[string]int
	// OffSpecStatus reports starting_deploy and inventory before deploying.
	OffSpecStatus bool
	// LoseAnswers carries out the next N writes of a route ("POST /tags")
	// but answers them 502, as a proxy losing the answers would (lose.go).
	LoseAnswers map[string]int
	// LoseCreateAnswers creates the next N servers but answers their
	// creates 502, as a proxy losing the answer would.
	LoseCreateAnswers int
	// ResetNext closes the connection of the next N requests without an
	// answer (a load balancer dropping them).
	ResetNext int
	// MalformedNext answers the next N reads 200 with a body that is not
	// JSON (a proxy's error page, a truncated answer).
	MalformedNext int
	// SlowNext delays the next N answers by SlowLatency (wall time), for
	// answers slower than the client's timeout.
	SlowNext    int
	SlowLatency time.Duration
	// Revoked refuses every request 401, as after the token was revoked.
	Revoked bool
	// RevokeAfterServers revokes the token once this many servers were
	// created, answering the last create first: a token revoked while a
	// deploy runs, at a known point.
	RevokeAfterServers int
	// StuckAssignmentNext keeps the next N VLAN assignments connecting
	// forever.
	StuckAssignmentNext int
	// UnknownStatus is reported instead of "deploying" while a server
	// deploys: a status value the API never documented.
	UnknownStatus string
	// ClampPages answers a page number past the end with the last page
	// again instead of an empty one.
	ClampPages bool
	// StaleTotal reports every list's total (meta.stats.total.count) this
	// many rows larger than the list holds: a total counted before as many
	// resources were deleted between two page reads. A client that trusts
	// it asks for a page past the end.
	StaleTotal int
}

// Fake is the API double. Use it as an http.Handler.
type Fake struct {
	opts Options
	mux  *http.ServeMux

	mu          sync.Mutex
	rng         *rand.Rand
	clock       *fakekit.Offset
	faults      Faults
	plans       []*Plan
	servers     []*server
	networks    []*network
	assignments []*assignment
	projects    []*project
	tags        []*tag
	sshKeys     []*sshKey
	nextVID     int
	usedIPs     map[netip.Addr]bool
	requests    map[string]int
	sent429     int
	sent5xx     int
	sentResets  int
	sentBroken  int
	// clampPages mirrors faults.ClampPages for page, which runs with and
	// without mu held.
	clampPages atomic.Bool
	staleTotal atomic.Int64
	quota      quotaWindow
	fired      fired
	holds      createHolds
}

type server struct {
	ID, Hostname, Project, Plan, Site, OS, IPXE, IP, Label string
	Billing                                                string
	Tags                                                   []string
	CreatedAt                                              time.Time
	Fail, Stuck, OffSpec, Locked                           bool
	Rescue                                                 bool
	PoweredOff                                             bool
	// Announced: OnDeployed was called for the current deployment.
	Announced bool
	// Reinstall is the reinstall under way, if any (reinstall.go).
	Reinstall *reinstallState
}

type network struct {
	ID, Description, Site, Project string
	VID                            int
	Tags                           []string
}

type assignment struct {
	ID, NetworkID, ServerID string
	CreatedAt               time.Time
	Stuck                   bool
}

type project struct{ ID, Name, Slug, ProvisioningType, Environment string }

type tag struct{ ID, Name, Description, Color string }

type sshKey struct{ ID, Name, PublicKey string }

// New returns a fake with the full catalogue in stock.
func New(opts Options) *Fake {
	if opts.Token == "" {
		opts.Token = "fake-token"
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.DeployTime <= 0 {
		opts.DeployTime = 10 * time.Minute
	}
	if opts.ConnectTime <= 0 {
		opts.ConnectTime = 30 * time.Second
	}
	if opts.IPBase == "" {
		opts.IPBase = "127.20.0.10"
	}
	f := &Fake{opts: opts, clock: &fakekit.Offset{Base: opts.Clock}, rng: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x5eed)), plans: Catalogue(),
		nextVID: 2085, usedIPs: map[netip.Addr]bool{}, requests: map[string]int{}}
	f.routes()
	return f
}

// Token is the API key the fake accepts.
func (f *Fake) Token() string { return f.opts.Token }

// SetFaults changes the injected faults.
func (f *Fake) SetFaults(change func(*Faults)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(&f.faults)
	f.clampPages.Store(f.faults.ClampPages)
	f.staleTotal.Store(int64(f.faults.StaleTotal))
}

// Unstick lets every stuck server finish deploying and every stuck VLAN
// assignment connect, as the provider's support fixing them would.
func (f *Fake) Unstick() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.servers {
		s.Stuck = false
	}
	for _, a := range f.assignments {
		a.Stuck = false
	}
}

// Advance moves the simulated time forward.
func (f *Fake) Advance(d time.Duration) { f.clock.Advance(d) }

// SetStock sets how many servers of a plan a site has left (0: out of
// stock there, but still offered).
func (f *Fake) SetStock(plan, site string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.plans {
		if p.Slug == plan {
			p.Stock[strings.ToUpper(site)] = n
		}
	}
}

func (f *Fake) now() time.Time { return f.clock.Now() }

func (f *Fake) newID(prefix string) string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 13)
	for i := range b {
		b[i] = chars[f.rng.IntN(len(chars))]
	}
	return prefix + "_" + string(b)
}

// allocIP hands out the lowest free address from IPBase up.
func (f *Fake) allocIP() string {
	a, err := netip.ParseAddr(f.opts.IPBase)
	if err != nil {
		a = netip.MustParseAddr("127.20.0.10")
	}
	for f.usedIPs[a] {
		a = a.Next()
	}
	f.usedIPs[a] = true
	return a.String()
}

// ServeHTTP counts the request, applies latency, auth and faults, then
// answers it.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, pattern := f.mux.Handler(r)
	if strings.HasPrefix(r.URL.Path, "/_fake/") {
		f.mux.ServeHTTP(w, r)
		return
	}
	key := pattern
	if key == "" {
		key = r.Method + " " + r.URL.Path
	}
	f.announceDeployed()
	f.mu.Lock()
	f.requests[key]++
	latency := f.faults.Latency
	if f.faults.SlowNext > 0 {
		f.faults.SlowNext--
		latency += f.faults.SlowLatency
		f.fired.slow.Add(1)
	}
	reset := f.faults.ResetNext > 0
	if reset {
		f.faults.ResetNext--
		f.sentResets++
	}
	f.mu.Unlock()
	if reset {
		resetConnection(w)
		return
	}
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	auth := r.Header.Get("Authorization")
	f.mu.Lock()
	revoked := f.faults.Revoked
	f.mu.Unlock()
	if revoked || (auth != f.opts.Token && auth != "Bearer "+f.opts.Token) {
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "Unauthorized", "Invalid token")
		return
	}
	f.mu.Lock()
	if f.overQuota(w, r) {
		f.mu.Unlock()
		return
	}
	switch {
	case f.faults.ServerErrorBurst > 0:
		f.faults.ServerErrorBurst--
		f.sent5xx++
		f.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "Service Unavailable", "The service is temporarily unavailable")
		return
	case f.faults.RateLimitRate > 0 && f.rng.Float64() < f.faults.RateLimitRate:
		ra := f.faults.RetryAfterSeconds
		if ra <= 0 {
			ra = 1
		}
		f.sent429++
		f.mu.Unlock()
		w.Header().Set("Retry-After", strconv.Itoa(ra))
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"errors": []map[string]any{{
			"code": "RATE_LIMIT_EXCEEDED", "status": "429", "title": "Too Many Requests",
			"detail": "Rate limit exceeded, retry later", "meta": map[string]any{"retry_after": ra}}}})
		return
	case f.faults.MalformedNext > 0 && r.Method == http.MethodGet:
		f.faults.MalformedNext--
		f.sentBroken++
		f.mu.Unlock()
		w.Header().Set("Content-Type", vndJSON)
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"data":[{"id":"sv_`))
		return
	}
	f.mu.Unlock()
	if f.loseAnswer(w, r, key) {
		return
	}
	f.mux.ServeHTTP(w, r)
}

// announceDeployed calls OnDeployed for the servers that reached "on"
// since the last request, outside the lock.
func (f *Fake) announceDeployed() {
	if f.opts.OnDeployed == nil {
		return
	}
	f.mu.Lock()
	var on []ServerState
	for _, s := range f.servers {
		if !s.Announced && f.status(s) == "on" {
			s.Announced = true
			on = append(on, f.serverState(s))
		}
	}
	f.mu.Unlock()
	for _, s := range on {
		f.opts.OnDeployed(s)
	}
}

func (f *Fake) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET "+fakekit.StatePath, func(w http.ResponseWriter, r *http.Request) {
		fakekit.ServeState(w, r, func() any { return f.State() })
	})
	m.HandleFunc("GET /plans", f.listPlans)
	m.HandleFunc("GET /plans/operating_systems", f.listOS)
	m.HandleFunc("GET /plans/{id}", f.getPlan)
	m.HandleFunc("GET /regions", f.listRegions)
	m.HandleFunc("GET /regions/{id}", f.getRegion)
	m.HandleFunc("GET /projects", f.listProjects)
	m.HandleFunc("POST /projects", f.createProject)
	m.HandleFunc("DELETE /projects/{id}", f.deleteProject)
	m.HandleFunc("GET /ssh_keys", f.listSSHKeys)
	m.HandleFunc("POST /ssh_keys", f.createSSHKey)
	m.HandleFunc("GET /tags", f.listTags)
	m.HandleFunc("POST /tags", f.createTag)
	m.HandleFunc("DELETE /tags/{id}", f.deleteTag)
	m.HandleFunc("GET /servers", f.listServers)
	m.HandleFunc("POST /servers", f.createServer)
	m.HandleFunc("GET /servers/{id}", getByID(f, f.findServer, f.serverJSON))
	m.HandleFunc("PATCH /servers/{id}", f.patchServer)
	m.HandleFunc("DELETE /servers/{id}", f.deleteServer)
	m.HandleFunc("POST /servers/{id}/reinstall", f.reinstall)
	m.HandleFunc("POST /servers/{id}/rescue_mode", f.rescue(true))
	m.HandleFunc("POST /servers/{id}/exit_rescue_mode", f.rescue(false))
	m.HandleFunc("POST /servers/{id}/actions", f.power)
	m.HandleFunc("POST /servers/{id}/lock", f.lock(true))
	m.HandleFunc("POST /servers/{id}/unlock", f.lock(false))
	m.HandleFunc("GET /virtual_networks", f.listNetworks)
	m.HandleFunc("POST /virtual_networks", f.createNetwork)
	m.HandleFunc("GET /virtual_networks/{id}", getByID(f, f.findNetwork, f.networkJSON))
	m.HandleFunc("PATCH /virtual_networks/{id}", f.patchNetwork)
	m.HandleFunc("DELETE /virtual_networks/{id}", f.deleteNetwork)
	m.HandleFunc("GET /virtual_networks/assignments", f.listAssignments)
	m.HandleFunc("POST /virtual_networks/assignments", f.createAssignment)
	m.HandleFunc("DELETE /virtual_networks/assignments/{id}", f.deleteAssignment)
	m.HandleFunc("GET /ips", f.listIPs)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "Specified Record Not Found", "no route "+r.Method+" "+r.URL.Path)
	})
	f.mux = m
}

// Wire helpers.

const vndJSON = "application/vnd.api+json; charset=utf-8"

// resetConnection drops the request's connection without an answer.
func resetConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0) // RST rather than FIN
	}
	conn.Close()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	writeTyped(w, status, vndJSON, v)
}

func writeTyped(w http.ResponseWriter, status int, contentType string, v any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, title, detail string) {
	var c any = code
	if code == "" {
		c = nil
	}
	writeTyped(w, status, "application/json; charset=utf-8", map[string]any{"errors": []map[string]any{{
		"code": c, "status": strconv.Itoa(status), "title": title, "detail": detail, "meta": map[string]any{}}}})
}

// withID runs fn with the fake locked on the resource the path's {id}
// names; there being none, it answers 404 as the API does.
func withID[T any](f *Fake, w http.ResponseWriter, r *http.Request, find func(id string) *T, fn func(*T)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	x := find(r.PathValue("id"))
	if x == nil {
		notFound(w)
		return
	}
	fn(x)
}

// deleteByID removes from items the one whose ID the path's {id} names,
// answering 204, or 404 when there is none.
func deleteByID[T any](f *Fake, w http.ResponseWriter, r *http.Request, items *[]*T, id func(*T) string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(*items)
	*items = slices.DeleteFunc(*items, func(x *T) bool { return id(x) == r.PathValue("id") })
	if len(*items) == n {
		notFound(w)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// getByID answers a GET of the resource the path's {id} names, as view
// shows it.
func getByID[T, V any](f *Fake, find func(id string) *T, view func(*T) V) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		withID(f, w, r, find, func(x *T) { one(w, http.StatusOK, view(x)) })
	}
}

func notFound(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, "not_found", "Specified Record Not Found", "Specified Record Not Found")
}

func invalid(w http.ResponseWriter, detail string) {
	writeError(w, http.StatusUnprocessableEntity, "VALIDATION_ERROR", "Validation Error", detail)
}

func obj(id, typ string, attrs any) map[string]any {
	return map[string]any{"id": id, "type": typ, "attributes": attrs}
}

func one(w http.ResponseWriter, status int, data any) {
	writeJSON(w, status, map[string]any{"data": data, "meta": map[string]any{}})
}

// page answers a list with 1-based paging (20 rows by default).
func (f *Fake) page(w http.ResponseWriter, r *http.Request, rows []any) {
	size, number := 20, 1
	if v, err := strconv.Atoi(r.URL.Query().Get("page[size]")); err == nil && v > 0 {
		size = v
	}
	if c := f.opts.PageSizeCap; c > 0 && size > c {
		size = c
	}
	if v, err := strconv.Atoi(r.URL.Query().Get("page[number]")); err == nil && v > 0 {
		number = v
	}
	start := (number - 1) * size
	if number > 1 && start >= len(rows) {
		f.fired.pastEnd.Add(1)
	}
	if f.clampPages.Load() && start >= len(rows) && len(rows) > 0 {
		start = (len(rows) - 1) / size * size
		f.fired.clampedPages.Add(1)
	}
	out := []any{}
	if start < len(rows) {
		out = rows[start:min(start+size, len(rows))]
	}
	meta := map[string]any{}
	if r.URL.Query().Get("stats[total]") != "" {
		// The OpenAPI document's pagination_meta: meta.stats.total.count.
		meta["stats"] = map[string]any{"total": map[string]any{"count": len(rows) + int(f.staleTotal.Load())}}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out, "meta": meta})
}

func filter(r *http.Request, name string) string { return r.URL.Query().Get("filter[" + name + "]") }
