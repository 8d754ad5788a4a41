// Package fake is a stateful double of the Latitude.sh API, served as an
// http.Handler. It speaks the recorded wire format (envelope, vnd.api+json,
// error objects, 1-based pagination of 20 rows by default, prefixed IDs),
// moves servers through their lifecycle on a simulated clock, and injects
// the faults the live API shows: 429 with Retry-After, 5xx bursts, slow
// answers, failed and stuck deployments, stock-outs and off-spec statuses.
package fake

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cto-platform/cto/internal/clock"
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
	offset      time.Duration
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
	f := &Fake{opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x5eed)), plans: Catalogue(),
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
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.offset += d
}

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

func (f *Fake) now() time.Time { return f.opts.Clock.Now().Add(f.offset) }

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
	m.HandleFunc("GET /_fake/state", f.getState)
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
	m.HandleFunc("GET /servers/{id}", f.getServer)
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
	m.HandleFunc("GET /virtual_networks/{id}", f.getNetwork)
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

// Plans and operating systems.

func (f *Fake) planJSON(p *Plan) map[string]any {
	byCountry := map[string][]string{}
	var countries []string
	for _, s := range Sites {
		if _, ok := p.Stock[s.Slug]; ok {
			if _, seen := byCountry[s.Country]; !seen {
				countries = append(countries, s.Country)
			}
			byCountry[s.Country] = append(byCountry[s.Country], s.Slug)
		}
	}
	regions := []any{}
	for _, c := range countries {
		inStock := []string{}
		for _, s := range byCountry[c] {
			if p.Stock[s] > 0 {
				inStock = append(inStock, s)
			}
		}
		k := countryFactor[c]
		if k == 0 {
			k = 1
		}
		hour, month := round2(p.HourUSD*k), float64(int(p.MonthUSD*k))
		instant := []string{}
		if p.IPXE && len(inStock) > 0 {
			instant = []string{"ubuntu_24_04_x64_lts"}
		}
		// The keys of the recorded region objects (cassettes
		// TestAccPlanBasic, TestAccPlanFilter): no stock_level, which the
		// OpenAPI schema lists and the live API did not send.
		regions = append(regions, map[string]any{
			"name": c, "deploys_instantly": instant,
			"locations": map[string]any{"available": byCountry[c], "in_stock": inStock},
			"pricing": map[string]any{
				"USD": map[string]any{"hour": hour, "month": month, "year": float64(int(month * 10.2))},
				"BRL": map[string]any{"hour": round2(hour * brlPerUSD), "month": float64(int(month * brlPerUSD)), "year": float64(int(month * 10.2 * brlPerUSD))},
			},
		})
	}
	drives := []any{}
	for _, d := range p.Drives {
		drives = append(drives, map[string]any{"count": d.Count, "size": d.Size, "type": d.Type})
	}
	gpu := map[string]any{}
	if p.GPUCount > 0 {
		gpu = map[string]any{"count": p.GPUCount, "type": p.GPUType, "vram_per_gpu": p.GPUVRAM, "interconnect": "PCIe"}
	}
	// The recorded plans with a single drive (c2.small, c3.small) lack raid.
	features := []string{"ssh", "user_data"}
	if drives := sumDrives(p); drives > 1 {
		features = []string{"ssh", "raid", "user_data"}
	}
	return obj(p.ID, "plans", map[string]any{
		"slug": p.Slug, "name": p.Name, "features": features,
		"specs": map[string]any{
			"cpu":    map[string]any{"type": p.CPUType, "clock": p.CPUClock, "cores": p.Cores, "count": p.CPUs},
			"memory": map[string]any{"total": p.MemoryGB},
			"drives": drives,
			"nics":   []any{map[string]any{"count": 2, "type": p.NIC}},
			"gpu":    gpu,
		},
		"regions": regions,
	})
}

func round2(v float64) float64 { return float64(int(v*100+0.5)) / 100 }

func (f *Fake) listPlans(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rows := []any{}
	for _, p := range f.plans {
		if s := filter(r, "slug"); s != "" && s != p.Slug {
			continue
		}
		if s := filter(r, "name"); s != "" && s != p.Name {
			continue
		}
		if s := strings.ToUpper(filter(r, "location")); s != "" {
			if _, ok := p.Stock[s]; !ok {
				continue
			}
			if filter(r, "in_stock") == "true" && p.Stock[s] == 0 {
				continue
			}
		}
		if g := filter(r, "gpu"); g == "true" && p.GPUCount == 0 || g == "false" && p.GPUCount > 0 {
			continue
		}
		rows = append(rows, f.planJSON(p))
	}
	// GET /plans answers every plan at once, as the live API did.
	writeJSON(w, http.StatusOK, map[string]any{"data": rows, "meta": map[string]any{}})
}

func (f *Fake) getPlan(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.plans {
		if p.ID == r.PathValue("id") || p.Slug == r.PathValue("id") {
			one(w, http.StatusOK, f.planJSON(p))
			return
		}
	}
	notFound(w)
}

func (f *Fake) listOS(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rows := []any{}
	for _, o := range operatingSystems {
		on := []string{}
		for _, p := range f.plans {
			if !o.Custom || p.IPXE {
				on = append(on, p.Name)
			}
		}
		rows = append(rows, obj(o.ID, "operating_system", map[string]any{
			"name": o.Name, "distro": o.Distro, "slug": o.Slug, "version": o.Version, "user": o.User,
			"features":         map[string]any{"raid": !o.Custom, "rescue": !o.Custom, "ssh_keys": !o.Custom, "user_data": !o.Custom},
			"provisionable_on": on,
		}))
	}
	f.page(w, r, rows)
}

func siteJSON(s Site) map[string]any {
	return obj("loc_"+strings.ToLower(s.Slug)+"0000000", "regions", map[string]any{
		"name": s.Name, "slug": s.Slug, "facility": s.Facility,
		"country": map[string]any{"name": s.Country, "slug": s.CountrySlug}, "type": "Core"})
}

func (f *Fake) listRegions(w http.ResponseWriter, r *http.Request) {
	rows := []any{}
	for _, s := range Sites {
		rows = append(rows, siteJSON(s))
	}
	f.page(w, r, rows)
}

func (f *Fake) getRegion(w http.ResponseWriter, r *http.Request) {
	for _, s := range Sites {
		if siteJSON(s)["id"] == r.PathValue("id") || s.Slug == r.PathValue("id") {
			one(w, http.StatusOK, siteJSON(s))
			return
		}
	}
	notFound(w)
}

// Projects, tags, SSH keys.

func (f *Fake) projectJSON(p *project) map[string]any {
	return obj(p.ID, "projects", map[string]any{
		"tags": []any{}, "name": p.Name, "slug": p.Slug, "description": "", "bandwidth_alert": nil,
		"environment": p.Environment, "provisioning_type": p.ProvisioningType, "billing_type": "Normal",
		"billing_method": "Normal", "team": teamJSON(), "stats": map[string]any{"servers": f.countServers(p.ID), "vlans": 0},
		"created_at": f.now().UTC().Format(time.RFC3339), "updated_at": f.now().UTC().Format(time.RFC3339),
	})
}

func teamJSON() map[string]any {
	return map[string]any{"id": "team_fake0000000000", "name": "Fake Team", "slug": "fake-team", "status": "verified",
		"currency": map[string]any{"id": "cur_87vRENkgNdPyk", "code": "USD", "name": "United States Dollar"}}
}

func (f *Fake) countServers(projectID string) int {
	n := 0
	for _, s := range f.servers {
		if s.Project == projectID {
			n++
		}
	}
	return n
}

func (f *Fake) findProject(key string) *project {
	for _, p := range f.projects {
		if p.ID == key || p.Slug == key {
			return p
		}
	}
	return nil
}

func slugify(s string) string {
	s = strings.ToLower(s)
	var b strings.Builder
	for _, c := range s {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteRune(c)
		} else {
			b.WriteRune('-')
		}
	}
	return b.String()
}

func (f *Fake) listProjects(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rows := []any{}
	for _, p := range f.projects {
		if v := filter(r, "name"); v != "" && v != p.Name {
			continue
		}
		if v := filter(r, "slug"); v != "" && v != p.Slug {
			continue
		}
		rows = append(rows, f.projectJSON(p))
	}
	f.page(w, r, rows)
}

func (f *Fake) createProject(w http.ResponseWriter, r *http.Request) {
	var a struct {
		Name             string `json:"name"`
		ProvisioningType string `json:"provisioning_type"`
		Environment      string `json:"environment"`
	}
	if !f.typed(w, r, &a) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if a.Name == "" {
		invalid(w, "name can't be blank")
		return
	}
	for _, p := range f.projects {
		if p.Name == a.Name {
			nameTaken(w)
			return
		}
	}
	if a.ProvisioningType == "" {
		a.ProvisioningType = "on_demand"
	}
	p := &project{ID: f.newID("proj"), Name: a.Name, Slug: slugify(a.Name), ProvisioningType: a.ProvisioningType, Environment: a.Environment}
	f.projects = append(f.projects, p)
	one(w, http.StatusCreated, f.projectJSON(p))
}

func (f *Fake) deleteProject(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.findProject(r.PathValue("id"))
	if p == nil {
		notFound(w)
		return
	}
	f.projects = slices.DeleteFunc(f.projects, func(x *project) bool { return x == p })
	w.WriteHeader(http.StatusNoContent)
}

func (f *Fake) tagJSON(t *tag) map[string]any {
	return obj(t.ID, "tags", map[string]any{"name": t.Name, "slug": slugify(t.Name), "description": t.Description, "color": t.Color, "team": teamJSON()})
}

func (f *Fake) tagRefs(ids []string) []any {
	out := []any{}
	for _, id := range ids {
		for _, t := range f.tags {
			if t.ID == id {
				out = append(out, map[string]any{"id": t.ID, "name": t.Name, "description": t.Description, "color": t.Color})
			}
		}
	}
	return out
}

func (f *Fake) listTags(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rows := []any{}
	for _, t := range f.tags {
		rows = append(rows, f.tagJSON(t))
	}
	// The tags endpoint answers application/json and is not paged.
	writeTyped(w, http.StatusOK, "application/json; charset=utf-8", map[string]any{"data": rows})
}

func (f *Fake) createTag(w http.ResponseWriter, r *http.Request) {
	var a struct{ Name, Description, Color string }
	if !f.typed(w, r, &a) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if a.Name == "" {
		invalid(w, "name can't be blank")
		return
	}
	if slices.ContainsFunc(f.tags, func(t *tag) bool { return t.Name == a.Name }) {
		nameTaken(w)
		return
	}
	t := &tag{ID: f.newID("tag"), Name: a.Name, Description: a.Description, Color: a.Color}
	f.tags = append(f.tags, t)
	writeTyped(w, http.StatusCreated, "application/json; charset=utf-8", map[string]any{"data": f.tagJSON(t)})
}

func (f *Fake) deleteTag(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.tags)
	f.tags = slices.DeleteFunc(f.tags, func(t *tag) bool { return t.ID == r.PathValue("id") })
	if len(f.tags) == n {
		notFound(w)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *Fake) listSSHKeys(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rows := []any{}
	for _, k := range f.sshKeys {
		rows = append(rows, obj(k.ID, "ssh_keys", map[string]any{"name": k.Name, "public_key": k.PublicKey}))
	}
	f.page(w, r, rows)
}

func (f *Fake) createSSHKey(w http.ResponseWriter, r *http.Request) {
	var a struct {
		Name      string `json:"name"`
		PublicKey string `json:"public_key"`
	}
	if !f.typed(w, r, &a) {
		return
	}
	if a.Name == "" || a.PublicKey == "" {
		invalid(w, "name and public_key are required")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := &sshKey{ID: f.newID("ssh"), Name: a.Name, PublicKey: a.PublicKey}
	f.sshKeys = append(f.sshKeys, k)
	one(w, http.StatusCreated, obj(k.ID, "ssh_keys", map[string]any{"name": k.Name, "public_key": k.PublicKey}))
}

// Servers.

// status is where a server stands at the simulated time now.
func (f *Fake) status(s *server) string {
	if s.Rescue {
		return "rescue_mode"
	}
	if st, ok := f.reinstallStatus(s); ok {
		return st
	}
	el := f.now().Sub(s.CreatedAt)
	deploying := "deploying"
	if el < f.opts.DeployTime/10 {
		// The recorded creates answered starting_deploy.
		deploying = "starting_deploy"
	}
	if s.OffSpec {
		switch {
		case el < f.opts.DeployTime/4:
			deploying = "starting_deploy"
		case el < f.opts.DeployTime/2:
			deploying = "inventory"
		}
	}
	if s.Stuck || el < f.opts.DeployTime {
		if f.faults.UnknownStatus != "" {
			f.fired.unknownStatus.Add(1)
			return f.faults.UnknownStatus
		}
		return deploying
	}
	if s.Fail {
		return "failed_deployment"
	}
	if s.PoweredOff {
		return "off"
	}
	return "on"
}

func (f *Fake) planBySlug(slug string) *Plan {
	for _, p := range f.plans {
		if p.Slug == slug {
			return p
		}
	}
	return nil
}

func (f *Fake) serverJSON(s *server) map[string]any {
	p := f.planBySlug(s.Plan)
	site, _ := siteBySlug(s.Site)
	proj := f.findProject(s.Project)
	projJSON := map[string]any{"id": s.Project}
	if proj != nil {
		projJSON = map[string]any{"id": proj.ID, "name": proj.Name, "slug": proj.Slug, "description": nil,
			"billing_type": "Normal", "billing_method": "Normal", "environment": proj.Environment}
	}
	osName := "Custom image (iPXE)"
	for _, o := range operatingSystems {
		if o.Slug == s.OS {
			osName = o.Name
		}
	}
	return obj(s.ID, "servers", map[string]any{
		"tags": f.tagRefs(s.Tags), "hostname": s.Hostname, "label": s.Label, "price": p.MonthUSD, "role": "Bare Metal",
		"primary_ipv4": s.IP, "status": f.status(s), "ipmi_status": "Normal",
		"created_at": s.CreatedAt.UTC().Format("2006-01-02T15:04:05+00:00"), "scheduled_deletion_at": nil,
		"locked": s.Locked,
		"region": map[string]any{"city": site.City, "country": site.Country, "site": map[string]any{
			"id": siteJSON(site)["id"], "name": site.Name, "slug": site.Slug, "facility": site.Facility}},
		"team": teamJSON(), "project": projJSON,
		"plan":             map[string]any{"id": p.ID, "name": p.Name, "slug": p.Slug, "billing": s.Billing},
		"operating_system": map[string]any{"name": osName, "slug": s.OS, "version": "", "features": map[string]any{"raid": false, "ssh_keys": false, "user_data": false}},
		"specs": map[string]any{"cpu": fmt.Sprintf("%s (%d cores)", p.CPUType, p.Cores), "disk": p.Drives[0].Size + " " + p.Drives[0].Type,
			"ram": fmt.Sprintf("%d GB", p.MemoryGB), "nic": p.NIC, "gpu": gpuSpec(p)},
		"interfaces": interfacesJSON(s.ID),
	})
}

func gpuSpec(p *Plan) any {
	if p.GPUCount == 0 {
		return nil
	}
	return fmt.Sprintf("%d x %s", p.GPUCount, p.GPUType)
}

func (f *Fake) findServer(id string) *server {
	for _, s := range f.servers {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// scope reads filter[project] (ID or slug) and filter[tags] (comma-separated
// IDs); ok is false for a project that does not exist.
func (f *Fake) scope(r *http.Request) (projectID string, tags []string, ok bool) {
	if v := filter(r, "project"); v != "" {
		p := f.findProject(v)
		if p == nil {
			return "", nil, false
		}
		projectID = p.ID
	}
	if v := filter(r, "tags"); v != "" {
		tags = strings.Split(v, ",")
	}
	return projectID, tags, true
}

// tagged reports whether has carries one of want (or want is empty).
func tagged(has, want []string) bool {
	return len(want) == 0 || slices.ContainsFunc(want, func(t string) bool { return slices.Contains(has, t) })
}

func (f *Fake) listServers(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rows := []any{}
	projectID, tags, ok := f.scope(r)
	if !ok {
		f.page(w, r, rows)
		return
	}
	for _, s := range f.servers {
		if projectID != "" && s.Project != projectID {
			continue
		}
		if v := filter(r, "hostname"); v != "" && v != s.Hostname {
			continue
		}
		if v := filter(r, "status"); v != "" && v != f.status(s) {
			continue
		}
		if v := filter(r, "region"); v != "" && !strings.EqualFold(v, s.Site) {
			continue
		}
		if v := filter(r, "plan"); v != "" && v != s.Plan {
			continue
		}
		if !tagged(s.Tags, tags) {
			continue
		}
		rows = append(rows, f.serverJSON(s))
	}
	f.page(w, r, rows)
}

func (f *Fake) createServer(w http.ResponseWriter, r *http.Request) {
	var a struct {
		Project         string   `json:"project"`
		Plan            string   `json:"plan"`
		Site            string   `json:"site"`
		OperatingSystem string   `json:"operating_system"`
		Hostname        string   `json:"hostname"`
		SSHKeys         []string `json:"ssh_keys"`
		IPXE            string   `json:"ipxe"`
		IPXEURL         string   `json:"ipxe_url"`
		Billing         string   `json:"billing"`
	}
	if !f.typed(w, r, &a) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	proj := f.findProject(a.Project)
	switch {
	case proj == nil:
		invalid(w, fmt.Sprintf("project %q is not valid", a.Project))
		return
	case a.Hostname == "":
		invalid(w, "hostname can't be blank")
		return
	}
	p := f.planBySlug(a.Plan)
	if p == nil {
		invalid(w, fmt.Sprintf("plan %q is not valid", a.Plan))
		return
	}
	site := strings.ToUpper(a.Site)
	left, offered := p.Stock[site]
	if !offered {
		invalid(w, fmt.Sprintf("plan %s is not offered at site %q", a.Plan, a.Site))
		return
	}
	known := false
	for _, o := range operatingSystems {
		known = known || o.Slug == a.OperatingSystem
	}
	switch {
	case !known:
		invalid(w, fmt.Sprintf("operating_system %q is not valid", a.OperatingSystem))
		return
	case a.OperatingSystem == "ipxe" && !p.IPXE:
		invalid(w, fmt.Sprintf("operating_system ipxe is not provisionable on plan %s", p.Name))
		return
	case a.OperatingSystem == "ipxe" && a.IPXE == "" && a.IPXEURL == "":
		invalid(w, "ipxe is required when operating_system is ipxe")
		return
	case a.OperatingSystem == "ipxe" && f.refusesIPXE(w, p):
		return
	}
	billing, ok := billingFor(w, proj, a.Billing)
	if !ok {
		return
	}
	if left <= 0 {
		writeError(w, http.StatusUnprocessableEntity, "SERVERS_OUT_OF_STOCK", "Out of stock", "No stock availability")
		return
	}
	p.Stock[site]--
	s := &server{ID: f.newID("sv"), Hostname: a.Hostname, Project: proj.ID, Plan: p.Slug, Site: site, OS: a.OperatingSystem,
		IPXE: a.IPXE + a.IPXEURL, IP: f.allocIP(), Label: fmt.Sprintf("%03dS%06d", 100+len(f.servers)%900, f.rng.IntN(1000000)),
		CreatedAt: f.now(), OffSpec: f.faults.OffSpecStatus, Billing: billing}
	if n := f.faults.FailHostnames[a.Hostname]; n > 0 {
		f.faults.FailHostnames[a.Hostname] = n - 1
		s.Fail = true
	} else if f.faults.FailNext > 0 {
		f.faults.FailNext--
		s.Fail = true
	}
	if n := f.faults.StuckHostnames[a.Hostname]; n > 0 {
		f.faults.StuckHostnames[a.Hostname] = n - 1
		s.Stuck = true
	} else if f.faults.StuckNext > 0 {
		f.faults.StuckNext--
		s.Stuck = true
	}
	f.servers = append(f.servers, s)
	if f.faults.LoseCreateAnswers > 0 {
		f.faults.LoseCreateAnswers--
		writeError(w, http.StatusBadGateway, "BAD_GATEWAY", "Bad Gateway", "The upstream answer was lost")
		return
	}
	f.holdCreateAnswer(s)
	if n := f.faults.RevokeAfterServers; n > 0 && len(f.servers) >= n {
		f.faults.Revoked = true
	}
	// The create answer is the short form the live API gives.
	full := f.serverJSON(s)["attributes"].(map[string]any)
	one(w, http.StatusCreated, map[string]any{"type": "servers", "id": s.ID, "attributes": map[string]any{
		"hostname": s.Hostname, "label": s.Label, "role": "Bare Metal", "status": full["status"], "primary_ipv4": s.IP,
		"specs": full["specs"], "plan": full["plan"]}})
}

func (f *Fake) getServer(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.findServer(r.PathValue("id"))
	if s == nil {
		notFound(w)
		return
	}
	one(w, http.StatusOK, f.serverJSON(s))
}

func (f *Fake) patchServer(w http.ResponseWriter, r *http.Request) {
	var a struct {
		Hostname *string  `json:"hostname"`
		Tags     []string `json:"tags"`
		Project  *string  `json:"project"`
	}
	if !f.typed(w, r, &a) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.findServer(r.PathValue("id"))
	if s == nil {
		notFound(w)
		return
	}
	if s.Locked {
		writeError(w, http.StatusLocked, "", "Locked Server", "Server is locked and cannot be updated or deleted")
		return
	}
	if a.Tags != nil {
		for _, id := range a.Tags {
			if !slices.ContainsFunc(f.tags, func(t *tag) bool { return t.ID == id }) {
				invalid(w, fmt.Sprintf("tag %q is not valid", id))
				return
			}
		}
		s.Tags = a.Tags
	}
	if a.Hostname != nil {
		s.Hostname = *a.Hostname
	}
	one(w, http.StatusOK, f.serverJSON(s))
}

func (f *Fake) deleteServer(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.findServer(r.PathValue("id"))
	if s == nil {
		notFound(w)
		return
	}
	if s.Locked {
		writeError(w, http.StatusLocked, "", "Locked Server", "Server is locked and cannot be updated or deleted")
		return
	}
	f.removeServer(s)
	w.WriteHeader(http.StatusNoContent)
	if f.opts.OnDeleted != nil {
		gone := f.serverState(s)
		f.mu.Unlock()
		f.opts.OnDeleted(gone)
		f.mu.Lock()
	}
}

func (f *Fake) removeServer(s *server) {
	f.servers = slices.DeleteFunc(f.servers, func(x *server) bool { return x == s })
	f.assignments = slices.DeleteFunc(f.assignments, func(a *assignment) bool { return a.ServerID == s.ID })
	if p := f.planBySlug(s.Plan); p != nil {
		p.Stock[s.Site]++
	}
	delete(f.usedIPs, netip.MustParseAddr(s.IP))
}

func (f *Fake) rescue(enter bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		s := f.findServer(r.PathValue("id"))
		if s == nil {
			notFound(w)
			return
		}
		if enter && s.OS == "ipxe" {
			writeError(w, http.StatusUnprocessableEntity, "RESCUE_UNAVAILABLE", "Unprocessable", "Rescue mode is not available for this operating system")
			return
		}
		s.Rescue = enter
		status := http.StatusOK
		if enter {
			status = http.StatusCreated
		}
		one(w, status, obj(s.ID, "rescue", map[string]any{"status": f.status(s)}))
	}
}

func (f *Fake) power(w http.ResponseWriter, r *http.Request) {
	var a struct{ Action string }
	if !f.typed(w, r, &a) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.findServer(r.PathValue("id"))
	if s == nil {
		notFound(w)
		return
	}
	switch a.Action {
	case "power_on", "reboot":
		s.PoweredOff = false
	case "power_off":
		s.PoweredOff = true
	default:
		invalid(w, fmt.Sprintf("action %q is not valid", a.Action))
		return
	}
	one(w, http.StatusCreated, obj(f.newID("act"), "actions", map[string]any{"status": "pending"}))
}

func (f *Fake) lock(locked bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		s := f.findServer(r.PathValue("id"))
		if s == nil {
			notFound(w)
			return
		}
		s.Locked = locked
		writeTyped(w, http.StatusOK, "application/json; charset=utf-8", map[string]any{"data": f.serverJSON(s)})
	}
}

// Virtual networks.

func (f *Fake) networkJSON(n *network) map[string]any {
	site, _ := siteBySlug(n.Site)
	count := 0
	for _, a := range f.assignments {
		if a.NetworkID == n.ID {
			count++
		}
	}
	return obj(n.ID, "virtual_networks", map[string]any{
		"tags": f.tagRefs(n.Tags), "vid": n.VID, "description": n.Description,
		"region": map[string]any{"city": site.City, "country": site.Country, "site": map[string]any{
			"id": siteJSON(site)["id"], "name": site.Name, "slug": site.Slug, "facility": site.Facility}},
		"assignments_count": count,
	})
}

func (f *Fake) findNetwork(id string) *network {
	for _, n := range f.networks {
		if n.ID == id {
			return n
		}
	}
	return nil
}

func (f *Fake) listNetworks(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rows := []any{}
	projectID, tags, ok := f.scope(r)
	if !ok {
		f.page(w, r, rows)
		return
	}
	for _, n := range f.networks {
		if projectID != "" && n.Project != projectID {
			continue
		}
		if v := filter(r, "location"); v != "" && !strings.EqualFold(v, n.Site) {
			continue
		}
		if !tagged(n.Tags, tags) {
			continue
		}
		rows = append(rows, f.networkJSON(n))
	}
	f.page(w, r, rows)
}

func (f *Fake) createNetwork(w http.ResponseWriter, r *http.Request) {
	var a struct{ Description, Site, Location, Project string }
	if !f.typed(w, r, &a) {
		return
	}
	if a.Site == "" {
		a.Site = a.Location // the name the OpenAPI document requires
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	proj := f.findProject(a.Project)
	if proj == nil {
		invalid(w, fmt.Sprintf("project %q is not valid", a.Project))
		return
	}
	if _, ok := siteBySlug(strings.ToUpper(a.Site)); !ok {
		invalid(w, fmt.Sprintf("site %q is not valid", a.Site))
		return
	}
	n := &network{ID: f.newID("vlan"), Description: a.Description, Site: strings.ToUpper(a.Site), Project: proj.ID, VID: f.nextVID}
	f.nextVID++
	f.networks = append(f.networks, n)
	full := f.networkJSON(n)["attributes"].(map[string]any)
	one(w, http.StatusCreated, obj(n.ID, "virtual_networks", map[string]any{
		"tags": full["tags"], "vid": n.VID, "name": fmt.Sprintf("%s-%d", n.Site, n.VID), "description": n.Description, "site": n.Site}))
}

func (f *Fake) getNetwork(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.findNetwork(r.PathValue("id"))
	if n == nil {
		notFound(w)
		return
	}
	one(w, http.StatusOK, f.networkJSON(n))
}

func (f *Fake) patchNetwork(w http.ResponseWriter, r *http.Request) {
	var a struct {
		Description *string  `json:"description"`
		Tags        []string `json:"tags"`
	}
	if !f.typed(w, r, &a) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.findNetwork(r.PathValue("id"))
	if n == nil {
		notFound(w)
		return
	}
	if a.Description != nil {
		n.Description = *a.Description
	}
	if a.Tags != nil {
		n.Tags = a.Tags
	}
	// The recorded PATCH answered the create's short form.
	full := f.networkJSON(n)["attributes"].(map[string]any)
	one(w, http.StatusOK, obj(n.ID, "virtual_networks", map[string]any{
		"tags": full["tags"], "vid": n.VID, "name": fmt.Sprintf("%s-%d", n.Site, n.VID), "description": n.Description, "site": n.Site}))
}

func (f *Fake) deleteNetwork(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.findNetwork(r.PathValue("id"))
	if n == nil {
		notFound(w)
		return
	}
	f.networks = slices.DeleteFunc(f.networks, func(x *network) bool { return x == n })
	f.assignments = slices.DeleteFunc(f.assignments, func(a *assignment) bool { return a.NetworkID == n.ID })
	w.WriteHeader(http.StatusNoContent)
}

func (f *Fake) assignmentStatus(a *assignment) string {
	if a.Stuck || f.now().Sub(a.CreatedAt) < f.opts.ConnectTime {
		return "connecting"
	}
	return "connected"
}

func (f *Fake) assignmentJSON(a *assignment) map[string]any {
	n := f.findNetwork(a.NetworkID)
	s := f.findServer(a.ServerID)
	srv := map[string]any{"id": a.ServerID}
	if s != nil {
		srv = map[string]any{"id": s.ID, "hostname": s.Hostname, "label": s.Label, "status": f.status(s)}
	}
	return obj(a.ID, "virtual_network_assignment", map[string]any{
		"virtual_network_id": a.NetworkID, "vid": n.VID, "description": n.Description, "status": f.assignmentStatus(a), "server": srv})
}

func (f *Fake) listAssignments(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rows := []any{}
	for _, a := range f.assignments {
		if v := filter(r, "virtual_network_id"); v != "" && v != a.NetworkID {
			continue
		}
		if v := filter(r, "server"); v != "" && v != a.ServerID {
			continue
		}
		if v := filter(r, "vid"); v != "" && v != strconv.Itoa(f.findNetwork(a.NetworkID).VID) {
			continue
		}
		rows = append(rows, f.assignmentJSON(a))
	}
	f.page(w, r, rows)
}

func (f *Fake) createAssignment(w http.ResponseWriter, r *http.Request) {
	var a struct {
		ServerID         string `json:"server_id"`
		VirtualNetworkID string `json:"virtual_network_id"`
	}
	if !f.typed(w, r, &a) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, n := f.findServer(a.ServerID), f.findNetwork(a.VirtualNetworkID)
	switch {
	case s == nil || n == nil:
		invalid(w, "server_id and virtual_network_id must name an existing server and virtual network")
		return
	case s.Site != n.Site:
		invalid(w, fmt.Sprintf("server %s is in %s, the virtual network in %s", s.ID, s.Site, n.Site))
		return
	}
	for _, x := range f.assignments {
		if x.ServerID == s.ID && x.NetworkID == n.ID {
			invalid(w, "server is already assigned to this virtual network")
			return
		}
	}
	as := &assignment{ID: f.newID("vnasg"), NetworkID: n.ID, ServerID: s.ID, CreatedAt: f.now(), Stuck: f.faults.StuckAssignmentNext > 0}
	if as.Stuck {
		f.faults.StuckAssignmentNext--
	}
	f.assignments = append(f.assignments, as)
	one(w, http.StatusCreated, obj(as.ID, "virtual_network_assignment", map[string]any{
		"virtual_network_id": n.ID, "vid": n.VID, "server_id": s.ID, "description": n.Description, "status": f.assignmentStatus(as)}))
}

func (f *Fake) deleteAssignment(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.assignments)
	f.assignments = slices.DeleteFunc(f.assignments, func(a *assignment) bool { return a.ID == r.PathValue("id") })
	if len(f.assignments) == n {
		notFound(w)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *Fake) listIPs(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rows := []any{}
	for _, s := range f.servers {
		if v := filter(r, "server"); v != "" && v != s.ID {
			continue
		}
		a := addressOf(s.IP)
		rows = append(rows, obj("ip_"+strings.TrimPrefix(s.ID, "sv_"), "ip_addresses", map[string]any{
			"address": a.Address, "cidr": a.CIDR, "gateway": a.Gateway, "netmask": a.Netmask, "type": "Public", "family": "IPv4",
			"server": map[string]any{"id": s.ID, "hostname": s.Hostname}}))
	}
	f.page(w, r, rows)
}

// State is the fake's whole state, as GET /_fake/state answers it.
type State struct {
	Servers     []ServerState     `json:"servers"`
	Networks    []NetworkState    `json:"networks"`
	Assignments []AssignmentState `json:"assignments"`
	Projects    []ProjectState    `json:"projects"`
	Tags        []TagState        `json:"tags"`
	// Requests counts requests by "METHOD /route".
	Requests     map[string]int `json:"requests"`
	RateLimited  int            `json:"rate_limited"`
	ServerErrors int            `json:"server_errors"`
	Resets       int            `json:"resets"`
	Malformed    int            `json:"malformed"`
	Now          time.Time      `json:"now"`
}

type ServerState struct {
	ID       string   `json:"id"`
	Hostname string   `json:"hostname"`
	Status   string   `json:"status"`
	Project  string   `json:"project"`
	Plan     string   `json:"plan"`
	Site     string   `json:"site"`
	IP       string   `json:"primary_ipv4"`
	Tags     []string `json:"tags"`
	IPXE     string   `json:"ipxe"`
	// Booted is what the server's iPXE runs: the URL, or the decoded
	// script with the placeholders the account fills filled (boot.go).
	Booted string `json:"booted,omitempty"`
}

type NetworkState struct {
	ID      string   `json:"id"`
	VID     int      `json:"vid"`
	Site    string   `json:"site"`
	Project string   `json:"project"`
	Tags    []string `json:"tags"`
}

type AssignmentState struct {
	ID        string `json:"id"`
	NetworkID string `json:"virtual_network_id"`
	ServerID  string `json:"server_id"`
	Status    string `json:"status"`
}

type ProjectState struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Slug string `json:"slug"`
}

type TagState struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Posts counts the write requests of a method ("POST", "DELETE"...).
func (s State) Count(method string) int {
	n := 0
	for k, v := range s.Requests {
		if strings.HasPrefix(k, method+" ") {
			n += v
		}
	}
	return n
}

// State returns a snapshot of everything the fake holds.
func (f *Fake) State() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := State{Requests: map[string]int{}, RateLimited: f.sent429, ServerErrors: f.sent5xx, Resets: f.sentResets, Malformed: f.sentBroken, Now: f.now(),
		Servers: []ServerState{}, Networks: []NetworkState{}, Assignments: []AssignmentState{}, Projects: []ProjectState{}, Tags: []TagState{}}
	tagName := func(ids []string) []string {
		var out []string
		for _, id := range ids {
			for _, t := range f.tags {
				if t.ID == id {
					out = append(out, t.Name)
				}
			}
		}
		return out
	}
	for _, s := range f.servers {
		st.Servers = append(st.Servers, f.serverState(s))
	}
	for _, n := range f.networks {
		st.Networks = append(st.Networks, NetworkState{ID: n.ID, VID: n.VID, Site: n.Site, Project: n.Project, Tags: tagName(n.Tags)})
	}
	for _, a := range f.assignments {
		st.Assignments = append(st.Assignments, AssignmentState{ID: a.ID, NetworkID: a.NetworkID, ServerID: a.ServerID, Status: f.assignmentStatus(a)})
	}
	for _, p := range f.projects {
		st.Projects = append(st.Projects, ProjectState{ID: p.ID, Name: p.Name, Slug: p.Slug})
	}
	for _, t := range f.tags {
		st.Tags = append(st.Tags, TagState{ID: t.ID, Name: t.Name})
	}
	for k, v := range f.requests {
		st.Requests[k] = v
	}
	sort.Slice(st.Servers, func(a, b int) bool { return st.Servers[a].Hostname < st.Servers[b].Hostname })
	return st
}

// serverState is a server as State shows it; the caller holds f.mu.
func (f *Fake) serverState(s *server) ServerState {
	var tags []string
	for _, id := range s.Tags {
		for _, t := range f.tags {
			if t.ID == id {
				tags = append(tags, t.Name)
			}
		}
	}
	return ServerState{ID: s.ID, Hostname: s.Hostname, Status: f.status(s), Project: s.Project,
		Plan: s.Plan, Site: s.Site, IP: s.IP, Tags: tags, IPXE: s.IPXE, Booted: f.booted(s)}
}

func (f *Fake) getState(w http.ResponseWriter, r *http.Request) {
	writeTyped(w, http.StatusOK, "application/json", f.State())
}
