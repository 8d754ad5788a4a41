// Package fake is a stateful double of Vultr's v2 API for bare metal: plans,
// regions, servers that deploy over simulated time, VPCs and their
// attachments, cursor pagination, and injectable faults (429, bursts of
// 5xx, failed deployments, stock running out). It is an http.Handler; serve
// it with httptest. GET /_fake/state dumps its state as JSON.
package fake

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/fakekit"
)

// Options configure New. Zero values take the defaults.
type Options struct {
	// Token is the API key the fake accepts (default "test-key").
	Token string
	// Clock is the fake's time (default: real time); Advance moves it on.
	Clock clock.Clock
	// DeployTime is how long a server stays pending (default 8 minutes).
	DeployTime time.Duration
	// AttachTime is how long a VPC attachment takes (default 20 seconds).
	AttachTime time.Duration
	// MaxPerPage caps per_page, to exercise pagination (default 500).
	MaxPerPage int
	// IPBase, when set, is the first main IP handed out (the lowest free
	// one from there up), so a simulated datacenter can put servers on
	// loopback. Unset: addresses in 45.77.0.0/16.
	IPBase string
	// OnActive is called once per server when a request first finds it
	// active, before that request is answered; OnDeleted when a server is
	// deleted. Both run outside the fake's lock: a simulated datacenter
	// boots the server's iPXE target there.
	OnActive  func(BareMetal)
	OnDeleted func(BareMetal)
}

// Plan is one bare-metal plan in the fake's catalogue, in the wire format.
type Plan struct {
	ID          string   `json:"id"`
	PhysicalCPU int      `json:"physical_cpus"`
	CPUCount    int      `json:"cpu_count"`
	CPUCores    int      `json:"cpu_cores"`
	CPUThreads  int      `json:"cpu_threads"`
	CPUModel    string   `json:"cpu_model"`
	CPUMHz      int      `json:"cpu_mhz"`
	RAM         int      `json:"ram"`
	Disk        int      `json:"disk"`
	DiskCount   int      `json:"disk_count"`
	Bandwidth   int      `json:"bandwidth"`
	MonthlyCost float64  `json:"monthly_cost"`
	HourlyCost  float64  `json:"hourly_cost"`
	Type        string   `json:"type"`
	Locations   []string `json:"locations"`
	GPUType     string   `json:"gpu_type,omitempty"`
	GPUVRAMGB   int      `json:"gpu_vram_gb,omitempty"`
}

// Region is one location, in the wire format.
type Region struct {
	ID        string   `json:"id"`
	City      string   `json:"city"`
	Country   string   `json:"country"`
	Continent string   `json:"continent"`
	Options   []string `json:"options"`
}

// BareMetal is a server as the API shows it.
type BareMetal struct {
	ID              string   `json:"id"`
	OS              string   `json:"os"`
	RAM             string   `json:"ram"`
	Disk            string   `json:"disk"`
	MainIP          string   `json:"main_ip"`
	CPUCount        int      `json:"cpu_count"`
	Region          string   `json:"region"`
	DefaultPassword string   `json:"default_password"`
	DateCreated     string   `json:"date_created"`
	Status          string   `json:"status"`
	PowerStatus     string   `json:"power_status"`
	Plan            string   `json:"plan"`
	Label           string   `json:"label"`
	Hostname        string   `json:"hostname"`
	OSID            int      `json:"os_id"`
	Tags            []string `json:"tags"`
	IPXEChainURL    string   `json:"ipxe_chain_url,omitempty"`
	// MACAddress is the public NIC's MAC as an integer, as the API
	// reports it (govultr BareMetalServer.MacAddress int64).
	MACAddress int64 `json:"mac_address"`

	created   time.Time
	fail      bool
	announced bool
}

// VPC is a private network as the API shows it.
type VPC struct {
	ID           string `json:"id"`
	Region       string `json:"region"`
	Description  string `json:"description"`
	V4Subnet     string `json:"v4_subnet"`
	V4SubnetMask int    `json:"v4_subnet_mask"`
	DateCreated  string `json:"date_created"`
}

type attachment struct {
	ServerID string    `json:"server_id"`
	IP       string    `json:"ip"`
	Added    time.Time `json:"added"`
}

// API is the fake. All methods are safe for concurrent use.
type API struct {
	opts Options

	mu          sync.Mutex
	clock       *fakekit.Offset
	plans       []Plan
	regions     []Region
	servers     map[string]*BareMetal
	order       []string
	vpcs        map[string]*VPC
	vpcOrder    []string
	attachments map[string][]*attachment // by VPC ID
	next        int
	failNext    int
	faults      fakekit.Faults
	requests    int
	creates     int

	mux *http.ServeMux
}

// New returns a fake with a small catalogue: four plans (one with GPUs) in
// six regions.
func New(o Options) *API {
	if o.Token == "" {
		o.Token = "test-key"
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.DeployTime == 0 {
		o.DeployTime = 8 * time.Minute
	}
	if o.AttachTime == 0 {
		o.AttachTime = 20 * time.Second
	}
	if o.MaxPerPage == 0 {
		o.MaxPerPage = 500
	}
	a := &API{
		opts:        o,
		clock:       &fakekit.Offset{Base: o.Clock},
		servers:     map[string]*BareMetal{},
		vpcs:        map[string]*VPC{},
		attachments: map[string][]*attachment{},
		regions: []Region{
			{ID: "ewr", City: "New Jersey", Country: "US", Continent: "North America"},
			{ID: "ord", City: "Chicago", Country: "US", Continent: "North America"},
			{ID: "lax", City: "Los Angeles", Country: "US", Continent: "North America"},
			{ID: "ams", City: "Amsterdam", Country: "NL", Continent: "Europe"},
			{ID: "fra", City: "Frankfurt", Country: "DE", Continent: "Europe"},
			{ID: "nrt", City: "Tokyo", Country: "JP", Continent: "Asia"},
		},
		plans: []Plan{
			{ID: "vbm-4c-32gb", PhysicalCPU: 1, CPUCount: 4, CPUCores: 4, CPUThreads: 8, CPUModel: "E3-1270v6", CPUMHz: 3800, RAM: 32768, Disk: 240, DiskCount: 2, Bandwidth: 5120, MonthlyCost: 185, HourlyCost: 0.274, Type: "SSD", Locations: []string{"ewr", "ord", "lax", "ams"}},
			{ID: "vbm-8c-132gb", PhysicalCPU: 1, CPUCount: 8, CPUCores: 8, CPUThreads: 16, CPUModel: "E-2288G", CPUMHz: 3700, RAM: 131072, Disk: 1920, DiskCount: 2, Bandwidth: 10240, MonthlyCost: 350, HourlyCost: 0.519, Type: "NVMe", Locations: []string{"ewr", "fra", "nrt"}},
			{ID: "vbm-24c-256gb-amd", PhysicalCPU: 1, CPUCount: 24, CPUCores: 24, CPUThreads: 48, CPUModel: "AMD EPYC 7443P", CPUMHz: 2850, RAM: 262144, Disk: 1920, DiskCount: 2, Bandwidth: 10240, MonthlyCost: 725, HourlyCost: 1.075, Type: "NVMe", Locations: []string{"ewr", "ams", "lax"}},
			{ID: "vbm-112c-2048gb-8-h100-gpu", PhysicalCPU: 2, CPUCount: 112, CPUCores: 112, CPUThreads: 224, CPUModel: "Intel Xeon Platinum 8480+", CPUMHz: 2000, RAM: 2097152, Disk: 3840, DiskCount: 8, Bandwidth: 15360, MonthlyCost: 17520, HourlyCost: 24, Type: "NVMe", Locations: []string{"ewr"}, GPUType: "NVIDIA_H100", GPUVRAMGB: 640},
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/account", a.account)
	mux.HandleFunc("GET /v2/regions", a.listRegions)
	mux.HandleFunc("GET /v2/plans-metal", a.listPlans)
	mux.HandleFunc("GET /v2/bare-metals", a.listServers)
	mux.HandleFunc("POST /v2/bare-metals", a.createServer)
	mux.HandleFunc("GET /v2/bare-metals/{id}", getByID(a, a.servers, "bare_metal", "Bare metal not found.", a.view))
	mux.HandleFunc("DELETE /v2/bare-metals/{id}", a.deleteServer)
	mux.HandleFunc("POST /v2/bare-metals/{id}/vpcs/attach", a.onLink(a.attach))
	mux.HandleFunc("POST /v2/bare-metals/{id}/vpcs/detach", a.onLink(a.detach))
	mux.HandleFunc("GET /v2/vpcs", a.listVPCs)
	mux.HandleFunc("POST /v2/vpcs", a.createVPC)
	mux.HandleFunc("GET /v2/vpcs/{id}", getByID(a, a.vpcs, "vpc", "VPC not found.", func(v *VPC) *VPC { return v }))
	mux.HandleFunc("DELETE /v2/vpcs/{id}", a.deleteVPC)
	mux.HandleFunc("GET /v2/vpcs/{id}/attachments", a.listAttachments)
	a.mux = mux
	return a
}

// Token is the API key the fake accepts.
func (a *API) Token() string { return a.opts.Token }

func (a *API) now() time.Time { return a.clock.Now() }

// Advance moves the fake's time on by d: servers finish deploying and
// attachments connect as if d had passed.
func (a *API) Advance(d time.Duration) { a.clock.Advance(d) }

// Settle advances time far enough that everything pending is done.
func (a *API) Settle() { a.Advance(a.opts.DeployTime + a.opts.AttachTime + time.Second) }

// OutOfStock removes region from the plan's locations: the API stops
// offering it there and refuses to create it.
func (a *API) OutOfStock(plan, region string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range a.plans {
		if a.plans[i].ID == plan {
			a.plans[i].Locations = slices.DeleteFunc(a.plans[i].Locations, func(l string) bool { return strings.EqualFold(l, region) })
		}
	}
}

// FailNext makes the next n servers created fail their deployment.
func (a *API) FailNext(n int) {
	a.mu.Lock()
	a.failNext += n
	a.mu.Unlock()
}

// RateLimit answers the next n requests 429 with Retry-After.
func (a *API) RateLimit(n int, retryAfter time.Duration) {
	a.faults.Add(n, fakekit.Fault{Status: http.StatusTooManyRequests, Code: "Rate limit exceeded.", RetryAfter: max(1, int(retryAfter.Seconds()))})
}

// Break answers the next n requests with status (a 5xx burst).
func (a *API) Break(n, status int) {
	a.faults.Add(n, fakekit.Fault{Status: status, Code: http.StatusText(status)})
}

// Requests is how many API requests the fake has answered.
func (a *API) Requests() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.requests
}

// Creates is how many servers were ordered, refused orders excluded.
func (a *API) Creates() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.creates
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if fakekit.ServeState(w, r, a.snapshot) {
		return
	}
	a.announceActive()
	if status, msg := a.admit(w, r); status != 0 {
		apiError(w, status, msg)
		return
	}
	a.mux.ServeHTTP(w, r)
}

// announceActive calls OnActive for the servers that finished deploying
// since the last request.
func (a *API) announceActive() {
	if a.opts.OnActive == nil {
		return
	}
	var active []BareMetal
	a.mu.Lock()
	for _, id := range a.order {
		s := a.servers[id]
		if v := a.view(s); !s.announced && v.Status == "active" {
			s.announced = true
			active = append(active, v)
		}
	}
	a.mu.Unlock()
	for _, v := range active {
		a.opts.OnActive(v)
	}
}

// allocIP hands out a new server's main IP.
func (a *API) allocIP() string {
	base, err := netip.ParseAddr(a.opts.IPBase)
	if err != nil {
		return fmt.Sprintf("45.77.%d.%d", a.next/250, a.next%250+2)
	}
	used := map[string]bool{}
	for _, s := range a.servers {
		used[s.MainIP] = true
	}
	for used[base.String()] {
		base = base.Next()
	}
	return base.String()
}

// admit counts a request and says whether a refusal or an injected fault
// answers it instead of the API (status 0: neither).
func (a *API) admit(w http.ResponseWriter, r *http.Request) (status int, msg string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.requests++
	// Public listings need no key: Vultr's official Node.js client
	// (vultr/vultr-node, src/api/plans.ts and regions.ts) marks them
	// apiKeyRequired: false. A key that is sent is still checked: the
	// source says nothing of that case, and refusing is the safe reading.
	public := r.Header.Get("Authorization") == "" && r.Method == http.MethodGet &&
		(r.URL.Path == "/v2/plans-metal" || r.URL.Path == "/v2/regions")
	if !public && r.Header.Get("Authorization") != "Bearer "+a.opts.Token {
		return http.StatusUnauthorized, "Invalid API token."
	}
	if f, ok := a.faults.Next(w); ok {
		return f.Status, f.Code
	}
	return 0, ""
}

// lockedBody decodes the request's JSON body into v and, when it is taken,
// locks the fake for the caller to unlock.
func (a *API) lockedBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if !decode(w, r, v) {
		return false
	}
	a.mu.Lock()
	return true
}

func apiError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": msg, "status": status})
}

// writeJSON answers with exactly "application/json", which govultr needs to
// decode a body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	data, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(status)
	w.Write(data)
}

// page cuts items by the per_page and cursor parameters and answers with
// {"<key>": [...], "meta": {"total", "links": {"next", "prev"}}}.
func page[T any](w http.ResponseWriter, r *http.Request, a *API, key string, items []T) {
	size := 100
	if n, err := strconv.Atoi(r.URL.Query().Get("per_page")); err == nil && n > 0 {
		size = min(n, 500)
	}
	size = min(size, a.opts.MaxPerPage)
	start := 0
	if c := r.URL.Query().Get("cursor"); c != "" {
		raw, err := base64.RawURLEncoding.DecodeString(c)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(raw), "next__"))
		if err != nil || err2 != nil || n < 0 || n > len(items) {
			apiError(w, http.StatusBadRequest, "Invalid cursor.")
			return
		}
		start = n
	}
	end := min(start+size, len(items))
	cursor := func(n int) string { return base64.RawURLEncoding.EncodeToString([]byte("next__" + strconv.Itoa(n))) }
	links := map[string]string{"next": "", "prev": ""}
	if end < len(items) {
		links["next"] = cursor(end)
	}
	if start > 0 {
		links["prev"] = cursor(max(0, start-size))
	}
	out := items[start:end]
	if out == nil {
		out = []T{}
	}
	writeJSON(w, http.StatusOK, map[string]any{key: out, "meta": map[string]any{"total": len(items), "links": links}})
}

// decode reads a JSON request body; false means it answered 400.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		apiError(w, http.StatusBadRequest, "Invalid JSON body.")
		return false
	}
	return true
}

// knownRegion answers 400 for a region the fake does not have (a.mu held).
func (a *API) knownRegion(w http.ResponseWriter, id string) bool {
	if !slices.ContainsFunc(a.regions, func(g Region) bool { return g.ID == id }) {
		apiError(w, http.StatusBadRequest, "Invalid region chosen.")
		return false
	}
	return true
}

func (a *API) account(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"account": map[string]any{
		"name": "Fake Account", "email": "ops@example.test", "acls": []string{"manage_servers", "billing"},
		"balance": -100, "pending_charges": 0, "last_payment_date": "", "last_payment_amount": 0,
	}})
}

func (a *API) listRegions(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	regions := slices.Clone(a.regions)
	a.mu.Unlock()
	page(w, r, a, "regions", regions)
}

func (a *API) listPlans(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	plans := make([]Plan, len(a.plans))
	for i, p := range a.plans {
		p.Locations = slices.Clone(p.Locations)
		plans[i] = p
	}
	a.mu.Unlock()
	page(w, r, a, "plans_metal", plans)
}

// view is a server as of now: pending until its deploy time has passed,
// then active with an address, or failed.
func (a *API) view(s *BareMetal) BareMetal {
	v := *s
	v.Tags = slices.Clone(s.Tags)
	if a.now().Sub(s.created) >= a.opts.DeployTime {
		if s.fail {
			v.Status, v.PowerStatus = "failed", "stopped"
		} else {
			v.Status, v.PowerStatus = "active", "running"
		}
	} else {
		v.Status, v.PowerStatus, v.MainIP = "pending", "stopped", ""
	}
	return v
}

func (a *API) listServers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a.mu.Lock()
	var out []BareMetal
	for _, id := range a.order {
		s := a.servers[id]
		if t := q.Get("tag"); t != "" && !slices.Contains(s.Tags, t) {
			continue
		}
		if l := q.Get("label"); l != "" && s.Label != l {
			continue
		}
		if reg := q.Get("region"); reg != "" && s.Region != reg {
			continue
		}
		out = append(out, a.view(s))
	}
	a.mu.Unlock()
	page(w, r, a, "bare_metals", out)
}

type createRequest struct {
	Region       string   `json:"region"`
	Plan         string   `json:"plan"`
	OSID         int      `json:"os_id"`
	Label        string   `json:"label"`
	Hostname     string   `json:"hostname"`
	Tags         []string `json:"tags"`
	IPXEChainURL string   `json:"ipxe_chain_url"`
}

func (a *API) createServer(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if !a.lockedBody(w, r, &req) {
		return
	}
	defer a.mu.Unlock()
	if !a.knownRegion(w, req.Region) {
		return
	}
	i := slices.IndexFunc(a.plans, func(p Plan) bool { return p.ID == req.Plan })
	if i < 0 {
		apiError(w, http.StatusBadRequest, "Invalid plan chosen.")
		return
	}
	if !slices.Contains(a.plans[i].Locations, req.Region) {
		apiError(w, http.StatusBadRequest, "Unable to create server: plan is not available in the selected region.")
		return
	}
	if req.OSID == 159 && req.IPXEChainURL == "" {
		apiError(w, http.StatusBadRequest, "An iPXE chain URL is required for a custom OS.")
		return
	}
	a.next++
	a.creates++
	id := fmt.Sprintf("cb676a46-66fd-4dfb-b839-%012d", a.next)
	p := a.plans[i]
	s := &BareMetal{
		ID: id, OS: "Custom", OSID: req.OSID, RAM: fmt.Sprintf("%d MB", p.RAM), Disk: fmt.Sprintf("%dx %d GB %s", p.DiskCount, p.Disk, p.Type),
		MainIP: a.allocIP(), CPUCount: p.CPUCount, Region: req.Region,
		DateCreated: a.now().UTC().Format("2006-01-02T15:04:05+00:00"), Plan: req.Plan, Label: req.Label, Hostname: req.Hostname,
		Tags: slices.Clone(req.Tags), IPXEChainURL: req.IPXEChainURL, created: a.now(),
		MACAddress: 0x0c42a1000000 | int64(a.next&0xffffff),
	}
	if a.failNext > 0 {
		a.failNext--
		s.fail = true
	}
	a.servers[id] = s
	a.order = append(a.order, id)
	writeJSON(w, http.StatusAccepted, map[string]any{"bare_metal": a.view(s)})
}

// getByID answers the GET of one resource by its {id}: its view under key,
// or 404 with missing.
func getByID[T, V any](a *API, items map[string]T, key, missing string, view func(T) V) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		item, ok := items[r.PathValue("id")]
		if !ok {
			apiError(w, http.StatusNotFound, missing)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{key: view(item)})
	}
}

func (a *API) deleteServer(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	id := r.PathValue("id")
	s, ok := a.servers[id]
	if !ok {
		a.mu.Unlock()
		apiError(w, http.StatusNotFound, "Bare metal not found.")
		return
	}
	gone := a.view(s)
	defer func() {
		if a.opts.OnDeleted != nil {
			a.opts.OnDeleted(gone)
		}
	}()
	defer a.mu.Unlock()
	delete(a.servers, id)
	a.order = slices.DeleteFunc(a.order, func(x string) bool { return x == id })
	for v, atts := range a.attachments {
		a.attachments[v] = slices.DeleteFunc(atts, func(t *attachment) bool { return t.ServerID == id })
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) vpcRequest(w http.ResponseWriter, r *http.Request) (server string, vpc string, ok bool) {
	var req struct {
		VPCID string `json:"vpc_id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.VPCID == "" {
		apiError(w, http.StatusBadRequest, "vpc_id is required.")
		return "", "", false
	}
	server = r.PathValue("id")
	if _, found := a.servers[server]; !found {
		apiError(w, http.StatusNotFound, "Bare metal not found.")
		return "", "", false
	}
	if _, found := a.vpcs[req.VPCID]; !found {
		apiError(w, http.StatusNotFound, "VPC not found.")
		return "", "", false
	}
	return server, req.VPCID, true
}

// onLink answers a request about one server's link to a VPC: with the lock
// held, once the server and the VPC are known to exist.
func (a *API) onLink(do func(w http.ResponseWriter, server, vpc string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		if server, vpc, ok := a.vpcRequest(w, r); ok {
			do(w, server, vpc)
		}
	}
}

func (a *API) attach(w http.ResponseWriter, server, vpc string) {
	if a.servers[server].Region != a.vpcs[vpc].Region {
		apiError(w, http.StatusBadRequest, "The VPC is in a different region than the server.")
		return
	}
	if !slices.ContainsFunc(a.attachments[vpc], func(t *attachment) bool { return t.ServerID == server }) {
		n := len(a.attachments[vpc]) + 3
		base := strings.TrimSuffix(a.vpcs[vpc].V4Subnet, ".0")
		a.attachments[vpc] = append(a.attachments[vpc], &attachment{ServerID: server, IP: fmt.Sprintf("%s.%d", base, n), Added: a.now()})
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) detach(w http.ResponseWriter, server, vpc string) {
	a.attachments[vpc] = slices.DeleteFunc(a.attachments[vpc], func(t *attachment) bool { return t.ServerID == server })
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) listVPCs(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	var out []VPC
	for _, id := range a.vpcOrder {
		out = append(out, *a.vpcs[id])
	}
	a.mu.Unlock()
	page(w, r, a, "vpcs", out)
}

func (a *API) createVPC(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Region       string `json:"region"`
		Description  string `json:"description"`
		V4Subnet     string `json:"v4_subnet"`
		V4SubnetMask int    `json:"v4_subnet_mask"`
	}
	if !a.lockedBody(w, r, &req) {
		return
	}
	defer a.mu.Unlock()
	if !a.knownRegion(w, req.Region) {
		return
	}
	if req.V4Subnet == "" {
		req.V4Subnet, req.V4SubnetMask = fmt.Sprintf("10.%d.96.0", len(a.vpcOrder)+1), 20
	}
	a.next++
	v := &VPC{ID: fmt.Sprintf("7f1e3a2c-0b5d-4c1e-9a77-%012d", a.next), Region: req.Region, Description: req.Description,
		V4Subnet: req.V4Subnet, V4SubnetMask: req.V4SubnetMask, DateCreated: a.now().UTC().Format("2006-01-02T15:04:05+00:00")}
	a.vpcs[v.ID] = v
	a.vpcOrder = append(a.vpcOrder, v.ID)
	writeJSON(w, http.StatusCreated, map[string]any{"vpc": v})
}

func (a *API) deleteVPC(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	id := r.PathValue("id")
	if _, ok := a.vpcs[id]; !ok {
		apiError(w, http.StatusNotFound, "VPC not found.")
		return
	}
	if len(a.attachments[id]) > 0 {
		apiError(w, http.StatusBadRequest, "Unable to delete VPC: it has attached resources.")
		return
	}
	delete(a.vpcs, id)
	delete(a.attachments, id)
	a.vpcOrder = slices.DeleteFunc(a.vpcOrder, func(x string) bool { return x == id })
	w.WriteHeader(http.StatusNoContent)
}

type attachmentView struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	MACAddress string `json:"mac_address"`
	DateAdded  string `json:"date_added"`
	IP         struct {
		V4 string `json:"v4"`
	} `json:"ip"`
}

func (a *API) listAttachments(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	id := r.PathValue("id")
	if _, ok := a.vpcs[id]; !ok {
		a.mu.Unlock()
		apiError(w, http.StatusNotFound, "VPC not found.")
		return
	}
	var out []attachmentView
	for _, t := range a.attachments[id] {
		v := attachmentView{ID: t.ServerID, Type: "bare_metal", MACAddress: VPCMAC(t.ServerID, id), DateAdded: t.Added.UTC().Format(time.RFC3339)}
		if a.now().Sub(t.Added) >= a.opts.AttachTime {
			v.IP.V4 = t.IP // the address shows once the attachment is up
		}
		out = append(out, v)
	}
	a.mu.Unlock()
	page(w, r, a, "attachments", out)
}

// Plans is the fake's catalogue.
func (a *API) Plans() []Plan {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.plans)
}

// State is the fake's servers and VPCs as of now.
type State struct {
	BareMetals []BareMetal `json:"bare_metals"`
	VPCs       []VPC       `json:"vpcs"`
}

// State snapshots the servers and VPCs.
func (a *API) State() State {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := State{BareMetals: []BareMetal{}, VPCs: []VPC{}}
	for _, id := range a.order {
		st.BareMetals = append(st.BareMetals, a.view(a.servers[id]))
	}
	for _, id := range a.vpcOrder {
		st.VPCs = append(st.VPCs, *a.vpcs[id])
	}
	return st
}

// snapshot is GET /_fake/state: everything the fake holds, for tests and
// for people looking at a simulated datacenter.
func (a *API) snapshot() any {
	a.mu.Lock()
	defer a.mu.Unlock()
	servers := []BareMetal{}
	for _, id := range a.order {
		servers = append(servers, a.view(a.servers[id]))
	}
	vpcs := []VPC{}
	for _, id := range a.vpcOrder {
		vpcs = append(vpcs, *a.vpcs[id])
	}
	atts := map[string][]attachment{}
	for k, v := range a.attachments {
		for _, at := range v {
			atts[k] = append(atts[k], *at)
		}
	}
	return map[string]any{
		"now": a.now().UTC(), "requests": a.requests, "creates": a.creates,
		"bare_metals": servers, "vpcs": vpcs, "attachments": atts, "plans_metal": slices.Clone(a.plans),
		"faults": map[string]any{"fail_next": a.failNext, "injected": a.faults.Pending()},
	}
}

// VPCMAC is the MAC of a server's NIC on a VPC: each attachment is a NIC
// of its own (the API names its mac_address).
func VPCMAC(serverID, vpcID string) string {
	sum := sha256.Sum256([]byte(serverID + "/" + vpcID))
	return net.HardwareAddr{0x5a, 0x01, 0x04, sum[0], sum[1], sum[2]}.String()
}

// VPCLink is a server's NIC on a VPC and its address once attached.
type VPCLink struct{ MAC, IP string }

// VPCLinks returns a server's VPC NICs.
func (a *API) VPCLinks(serverID string) []VPCLink {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []VPCLink
	for vpc, atts := range a.attachments {
		for _, t := range atts {
			if t.ServerID == serverID {
				out = append(out, VPCLink{MAC: VPCMAC(serverID, vpc), IP: t.IP})
			}
		}
	}
	return out
}
