// Package fake is a stateful double of the Hetzner Cloud API: it speaks the
// real wire format (the hcloud-go schema types), keeps servers, actions,
// networks, placement groups, load balancers, ISOs and snapshots, moves them
// along a simulated clock, enforces the hourly request budget and injects
// faults. GET /_fake/state dumps the whole state as JSON.
package fake

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/fakekit"
)

// Token is the API token the fake accepts unless Options.Token says otherwise.
const Token = "fake-hcloud-token"

// Options configure a fake.
type Options struct {
	// Token the fake accepts (default Token).
	Token string
	// Clock is the fake's time (default a new fakekit.Clock, which only moves
	// with requests and Settle; a clock.Scaled runs by itself).
	Clock clock.Clock
	// Tick is how much simulated time each request costs (default 2s, a
	// negative value none), so a client polling an action sees it finish.
	Tick time.Duration
	// Budget is the hourly request budget (default 3600, refilled one
	// request per second of simulated time).
	Budget int
	// IPBase, when set, is the first public IPv4 handed out to servers and
	// load balancers (the lowest free one from there up), so a simulated
	// datacenter can put them on loopback. Unset: documentation addresses.
	IPBase string
	// OnBooted is called each time a server starts an operating system
	// (power on, reset, or a create that starts it), OnStopped when it
	// stops running one (power off, reset, deletion). Both are called
	// outside the fake's lock, before the request that caused them is
	// answered: a simulated datacenter boots a Talos node there.
	OnBooted  func(Booted)
	OnStopped func(Booted)
	// OnLoadBalancer is called, outside the lock, with a load balancer's
	// public IPv4 when it is created (up) and deleted (!up), so a
	// simulated datacenter can forward its services.
	OnLoadBalancer func(ip string, up bool)
}

// Booted is a server as the boot hooks see it.
type Booted struct {
	ID     int64             `json:"id"`
	Name   string            `json:"name"`
	IP     string            `json:"ip"`
	Type   string            `json:"server_type"`
	DiskGB int               `json:"disk_gb"`
	Labels map[string]string `json:"labels"`
	// What is the server's Booted: "iso:<name>", "image:<name>" or
	// "rescue"; Image is the image it was created from (a snapshot's
	// labels say which Talos it holds).
	What  string        `json:"booted"`
	Image *schema.Image `json:"image,omitempty"`
	// Deleted is set in OnStopped when the server is gone for good.
	Deleted bool `json:"deleted,omitempty"`
}

// Fake is the API double. It is an http.Handler.
type Fake struct {
	mu    sync.Mutex
	opt   Options
	clock clock.Clock

	nextID   int64
	budget   float64
	refilled time.Time

	locations   []schema.Location
	serverTypes []schema.ServerType
	lbTypes     []schema.LoadBalancerType
	primaryIPs  []schema.PricingPrimaryIP
	isos        []schema.ISO
	images      map[int64]*schema.Image
	servers     map[int64]*server
	actions     map[int64]*action
	networks    map[int64]*schema.Network
	members     map[int64]map[int64]string // network -> server -> status
	groups      map[int64]*schema.PlacementGroup
	lbs         map[int64]*schema.LoadBalancer

	outOfStock map[string]bool // "type@location"
	failNext   int
	faults     fakekit.Faults
	rescue     RescueHost
	usedIPs    map[string]bool
	door       fakekit.Door
}

type server struct {
	schema.Server
	// Booted is what the server runs: "", "image:<name>", "iso:<name>" or
	// "rescue".
	Booted         string `json:"booted"`
	RescuePassword string `json:"-"`
	Failed         bool   `json:"failed"`
}

type action struct {
	schema.Action
	doneAt time.Time
	fail   *schema.ActionError
	onDone func()
}

// RescueHost is told when a server boots into or leaves the rescue system,
// so an SSH double can accept the rescue password.
type RescueHost interface {
	RescueBooted(serverID int64, ip, password string)
	RescueLeft(serverID int64)
}

// New returns a fake with Hetzner's locations, a handful of server types
// with per-location prices, and the public Talos ISOs.
func New(opt Options) *Fake {
	if opt.Token == "" {
		opt.Token = Token
	}
	if opt.Clock == nil {
		opt.Clock = fakekit.NewClock()
	}
	if opt.Tick == 0 {
		opt.Tick = 2 * time.Second
	}
	if opt.Budget == 0 {
		opt.Budget = 3600
	}
	f := &Fake{
		opt: opt, clock: opt.Clock, nextID: 1000, budget: float64(opt.Budget), refilled: opt.Clock.Now(),
		images: map[int64]*schema.Image{}, servers: map[int64]*server{}, actions: map[int64]*action{},
		networks: map[int64]*schema.Network{}, members: map[int64]map[int64]string{},
		groups: map[int64]*schema.PlacementGroup{}, lbs: map[int64]*schema.LoadBalancer{},
		outOfStock: map[string]bool{}, usedIPs: map[string]bool{},
	}
	f.locations = []schema.Location{
		{ID: 1, Name: "fsn1", Description: "Falkenstein DC Park 1", Country: "DE", City: "Falkenstein", NetworkZone: "eu-central"},
		{ID: 2, Name: "nbg1", Description: "Nuremberg DC Park 1", Country: "DE", City: "Nuremberg", NetworkZone: "eu-central"},
		{ID: 3, Name: "hel1", Description: "Helsinki DC Park 1", Country: "FI", City: "Helsinki", NetworkZone: "eu-central"},
		{ID: 4, Name: "ash", Description: "Ashburn, VA", Country: "US", City: "Ashburn, VA", NetworkZone: "us-east"},
	}
	type st struct {
		id                  int64
		name, cpu, arch     string
		cores, disk         int
		mem, hourly, monthy float64
		where               []string
	}
	for _, t := range []st{
		{101, "cx23", "shared", "x86", 2, 40, 4, 0.0066, 3.99, []string{"fsn1", "nbg1", "hel1"}},
		{102, "cx33", "shared", "x86", 4, 80, 8, 0.0106, 6.49, []string{"fsn1", "nbg1", "hel1"}},
		{103, "ccx23", "dedicated", "x86", 4, 160, 16, 0.0480, 29.99, []string{"fsn1", "nbg1", "hel1", "ash"}},
		{104, "cax21", "shared", "arm", 4, 80, 8, 0.0104, 6.49, []string{"fsn1", "nbg1", "hel1"}},
	} {
		s := schema.ServerType{ID: t.id, Name: t.name, Description: strings.ToUpper(t.name), Category: "regular", Cores: t.cores,
			Memory: float32(t.mem), Disk: t.disk, StorageType: "local", CPUType: t.cpu, Architecture: t.arch}
		for _, l := range f.locations {
			available := false
			for _, w := range t.where {
				available = available || w == l.Name
			}
			s.Locations = append(s.Locations, schema.ServerTypeLocation{ID: l.ID, Name: l.Name, Available: available})
			if available {
				s.Prices = append(s.Prices, schema.PricingServerTypePrice{Location: l.Name,
					PriceHourly:  price(t.hourly),
					PriceMonthly: price(t.monthy)})
			}
		}
		f.serverTypes = append(f.serverTypes, s)
	}
	// Load balancer types as GET /load_balancer_types serves them (the
	// hcloud-go schema.LoadBalancerType, after Hetzner's API reference
	// "Load Balancer Types"): a net and gross price per location, hourly
	// and monthly, with the included traffic. Prices are made up and
	// differ between locations, as the real ones do.
	for _, t := range []struct {
		id                       int64
		name                     string
		services, targets, conns int
		hourly, monthly          map[string]float64
	}{
		{301, "lb11", 5, 25, 10000, map[string]float64{"fsn1": 0.0088, "nbg1": 0.0088, "hel1": 0.0088, "ash": 0.0107}, map[string]float64{"fsn1": 5.39, "nbg1": 5.39, "hel1": 5.39, "ash": 6.49}},
		{302, "lb21", 15, 75, 20000, map[string]float64{"fsn1": 0.0266, "nbg1": 0.0266, "hel1": 0.0266, "ash": 0.0322}, map[string]float64{"fsn1": 16.40, "nbg1": 16.40, "hel1": 16.40, "ash": 19.90}},
		{303, "lb31", 30, 150, 40000, map[string]float64{"fsn1": 0.0527, "nbg1": 0.0527, "hel1": 0.0527, "ash": 0.0635}, map[string]float64{"fsn1": 32.90, "nbg1": 32.90, "hel1": 32.90, "ash": 39.50}},
	} {
		lt := schema.LoadBalancerType{ID: t.id, Name: t.name, Description: strings.ToUpper(t.name), MaxConnections: t.conns,
			MaxServices: t.services, MaxTargets: t.targets, MaxAssignedCertificates: 10}
		for _, l := range f.locations {
			lt.Prices = append(lt.Prices, schema.PricingLoadBalancerTypePrice{Location: l.Name,
				PriceHourly: price(t.hourly[l.Name]), PriceMonthly: price(t.monthly[l.Name]),
				IncludedTraffic: 1 << 40, PricePerTBTraffic: price(1)})
		}
		f.lbTypes = append(f.lbTypes, lt)
	}
	// Primary IP prices as GET /pricing serves them (hcloud-go's
	// schema.PricingPrimaryIP, after Hetzner's API reference "Pricing"):
	// IPv4 addresses cost per month per location, IPv6 nothing.
	v4, v6 := schema.PricingPrimaryIP{Type: "ipv4"}, schema.PricingPrimaryIP{Type: "ipv6"}
	for _, l := range f.locations {
		monthly := map[bool]float64{false: 0.50, true: 0.60}[l.Name == "ash"]
		v4.Prices = append(v4.Prices, schema.PricingPrimaryIPTypePrice{Location: l.Name, PriceHourly: price(monthly / 730), PriceMonthly: price(monthly)})
		v6.Prices = append(v6.Prices, schema.PricingPrimaryIPTypePrice{Location: l.Name, PriceHourly: price(0), PriceMonthly: price(0)})
	}
	f.primaryIPs = []schema.PricingPrimaryIP{v4, v6}
	x86 := "x86"
	f.isos = []schema.ISO{
		{ID: 201, Name: "talos-v1.12.4-amd64.iso", Description: "Talos Linux v1.12.4 (x86)", Type: "public", Architecture: &x86},
		{ID: 202, Name: "talos-v1.13.9-amd64.iso", Description: "Talos Linux v1.13.9 (x86)", Type: "public", Architecture: &x86},
		{ID: 203, Name: "virtio-win-0.1.271.iso", Description: "virtio-win-0.1.271", Type: "public", Architecture: &x86},
	}
	return f
}

func price(v float64) schema.Price {
	return schema.Price{Net: strconv.FormatFloat(v, 'f', 4, 64), Gross: strconv.FormatFloat(v*1.19, 'f', 4, 64)}
}

// Clock is the fake's time.
func (f *Fake) Clock() clock.Clock { return f.clock }

// Settle lets enough simulated time pass that every running action ends.
func (f *Fake) Settle() {
	fakekit.Advance(f.clock, time.Hour)
	f.mu.Lock()
	f.progress()
	f.mu.Unlock()
}

// pricing is GET /pricing: the project's currency and VAT rate, and the
// prices of primary IPs, server types and load balancer types.
func (f *Fake) pricing() schema.Pricing {
	p := schema.Pricing{Currency: "EUR", VATRate: "19.00", PrimaryIPs: f.primaryIPs}
	// The API lists floating IP types beside primary IPs (hcloud-go's
	// converter even counts on it); their made-up prices matter to no one.
	for _, ip := range f.primaryIPs {
		ft := schema.PricingFloatingIPType{Type: ip.Type}
		for _, pr := range ip.Prices {
			ft.Prices = append(ft.Prices, schema.PricingFloatingIPTypePrice{Location: pr.Location, PriceMonthly: price(3)})
		}
		p.FloatingIPs = append(p.FloatingIPs, ft)
	}
	for _, t := range f.serverTypes {
		p.ServerTypes = append(p.ServerTypes, schema.PricingServerType{ID: t.ID, Name: t.Name, Prices: t.Prices})
	}
	for _, t := range f.lbTypes {
		p.LoadBalancerTypes = append(p.LoadBalancerTypes, schema.PricingLoadBalancerType{ID: t.ID, Name: t.Name, Prices: t.Prices})
	}
	return p
}

// SetServerTypePrice sets a server type's monthly and hourly net price at
// a location.
func (f *Fake) SetServerTypePrice(serverType, location string, hourly, monthly float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.serverTypes {
		if f.serverTypes[i].Name != serverType {
			continue
		}
		for j := range f.serverTypes[i].Prices {
			if f.serverTypes[i].Prices[j].Location == location {
				f.serverTypes[i].Prices[j].PriceHourly, f.serverTypes[i].Prices[j].PriceMonthly = price(hourly), price(monthly)
			}
		}
	}
}

// SetOutOfStock makes a server type unavailable at a location.
func (f *Fake) SetOutOfStock(serverType, location string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outOfStock[serverType+"@"+location] = true
	for i := range f.serverTypes {
		if f.serverTypes[i].Name != serverType {
			continue
		}
		for j := range f.serverTypes[i].Locations {
			if f.serverTypes[i].Locations[j].Name == location {
				f.serverTypes[i].Locations[j].Available = false
			}
		}
	}
}

// FailNext makes the next server's create action fail.
func (f *Fake) FailNext() { f.mu.Lock(); f.failNext++; f.mu.Unlock() }

// RemoveISO drops a public ISO, as when Hetzner has none for a version.
func (f *Fake) RemoveISO(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, iso := range f.isos {
		if iso.Name == name {
			f.isos = append(f.isos[:i], f.isos[i+1:]...)
			return
		}
	}
}

// InjectRateLimit answers the next n requests with 429 and Retry-After.
func (f *Fake) InjectRateLimit(n, retryAfterSeconds int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults.Add(n, fakekit.Fault{Status: http.StatusTooManyRequests, Code: "rate_limit_exceeded", RetryAfter: retryAfterSeconds})
}

// InjectServerErrors answers the next n requests with status (502, 503 or
// 504).
func (f *Fake) InjectServerErrors(n, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	code := map[int]string{502: "bad_gateway", 503: "service_error", 504: "timeout"}[status]
	f.faults.Add(n, fakekit.Fault{Status: status, Code: code})
}

// SetSlow makes every response wait d of real time first.
func (f *Fake) SetSlow(d time.Duration) { f.door.Slow.Set(d) }

// SetRescueHost wires an SSH double for servers in the rescue system.
func (f *Fake) SetRescueHost(h RescueHost) { f.mu.Lock(); f.rescue = h; f.mu.Unlock() }

// Requests is how many API requests the fake has answered.
func (f *Fake) Requests() int { f.mu.Lock(); defer f.mu.Unlock(); return f.door.Requests }

// State is the whole fake state, as GET /_fake/state returns it.
type State struct {
	Now             time.Time               `json:"now"`
	Requests        int                     `json:"requests"`
	BudgetRemaining int                     `json:"budget_remaining"`
	Servers         []server                `json:"servers"`
	Networks        []schema.Network        `json:"networks"`
	PlacementGroups []schema.PlacementGroup `json:"placement_groups"`
	LoadBalancers   []schema.LoadBalancer   `json:"load_balancers"`
	Images          []schema.Image          `json:"images"`
	Actions         []schema.Action         `json:"actions"`
}

// Snapshot returns the state.
func (f *Fake) Snapshot() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := State{Now: f.clock.Now(), Requests: f.door.Requests, BudgetRemaining: int(f.budget)}
	for _, id := range sortedKeys(f.servers) {
		st.Servers = append(st.Servers, *f.servers[id])
	}
	for _, id := range sortedKeys(f.networks) {
		st.Networks = append(st.Networks, *f.networks[id])
	}
	for _, id := range sortedKeys(f.groups) {
		st.PlacementGroups = append(st.PlacementGroups, *f.groups[id])
	}
	for _, id := range sortedKeys(f.lbs) {
		st.LoadBalancers = append(st.LoadBalancers, *f.lbs[id])
	}
	for _, id := range sortedKeys(f.images) {
		st.Images = append(st.Images, *f.images[id])
	}
	for _, id := range sortedKeys(f.actions) {
		st.Actions = append(st.Actions, f.actions[id].Action)
	}
	return st
}

func sortedKeys[V any](m map[int64]V) []int64 {
	keys := make([]int64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool { return keys[a] < keys[b] })
	return keys
}

func (f *Fake) id() int64 { f.nextID++; return f.nextID }

// allocIP hands out the next public IPv4: the lowest free one from
// Options.IPBase, or a documentation address derived from id.
func (f *Fake) allocIP(id int64, doc string) string {
	a, err := netip.ParseAddr(f.opt.IPBase)
	if err != nil {
		return fmt.Sprintf("%s.%d", doc, id%250+1)
	}
	for f.usedIPs[a.String()] {
		a = a.Next()
	}
	f.usedIPs[a.String()] = true
	return a.String()
}

// bootedOf is s as the hooks see it.
func bootedOf(s *server) Booted {
	b := Booted{ID: s.ID, Name: s.Name, IP: s.PublicNet.IPv4.IP, Type: s.ServerType.Name, DiskGB: s.PrimaryDiskSize,
		Labels: fmtLabels(&s.Labels), What: s.Booted}
	if s.Image != nil {
		img := *s.Image
		b.Image = &img
	}
	return b
}

// booted queues OnBooted for s; stopped queues OnStopped.
func (f *Fake) booted(s *server) {
	if h := f.opt.OnBooted; h != nil {
		b := bootedOf(s)
		f.door.Hooks.Add(func() { h(b) })
	}
}

func (f *Fake) stopped(s *server, deleted bool) {
	if h := f.opt.OnStopped; h != nil && (s.Booted != "" || deleted) {
		b := bootedOf(s)
		b.Deleted = deleted
		f.door.Hooks.Add(func() { h(b) })
	}
}

// loadBalancer queues OnLoadBalancer.
func (f *Fake) loadBalancer(ip string, up bool) {
	if h := f.opt.OnLoadBalancer; h != nil {
		f.door.Hooks.Add(func() { h(ip, up) })
	}
}

// ServeHTTP answers one API request.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	leave, ok := f.door.Enter(w, r, &f.mu, func() any { return f.Snapshot() })
	if !ok {
		return
	}
	defer leave()
	if f.opt.Tick > 0 {
		fakekit.Advance(f.clock, f.opt.Tick)
	}
	f.progress()

	if r.Header.Get("Authorization") != "Bearer "+f.opt.Token {
		apiError(w, http.StatusUnauthorized, "unauthorized", "unable to authenticate")
		return
	}
	if !f.spend(w) {
		return
	}
	if ft, ok := f.faults.Next(w); ok {
		apiError(w, ft.Status, ft.Code, "injected fault")
		return
	}
	f.route(w, r)
}

// spend charges one request against the hourly budget and sets the
// RateLimit headers; an empty budget answers 429.
func (f *Fake) spend(w http.ResponseWriter) bool {
	now := f.clock.Now()
	f.budget += now.Sub(f.refilled).Seconds()
	f.refilled = now
	if f.budget > float64(f.opt.Budget) {
		f.budget = float64(f.opt.Budget)
	}
	h := w.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(f.opt.Budget))
	if f.budget < 1 {
		h.Set("RateLimit-Remaining", "0")
		h.Set("RateLimit-Reset", strconv.FormatInt(now.Add(time.Second).Unix(), 10))
		h.Set("Retry-After", "1")
		apiError(w, http.StatusTooManyRequests, "rate_limit_exceeded", "limit of 3600 requests per hour reached")
		return false
	}
	f.budget--
	h.Set("RateLimit-Remaining", strconv.Itoa(int(f.budget)))
	missing := float64(f.opt.Budget) - f.budget
	h.Set("RateLimit-Reset", strconv.FormatInt(now.Add(time.Duration(missing)*time.Second).Unix(), 10))
	return true
}

// progress finishes every action whose time has come.
func (f *Fake) progress() {
	now := f.clock.Now()
	for _, id := range sortedKeys(f.actions) {
		a := f.actions[id]
		if a.Status != "running" || now.Before(a.doneAt) {
			continue
		}
		finished := a.doneAt
		a.Finished = &finished
		a.Progress = 100
		if a.fail != nil {
			a.Status = "error"
			a.Error = a.fail
		} else {
			a.Status = "success"
		}
		if a.onDone != nil {
			a.onDone()
		}
	}
}

func (f *Fake) newAction(command string, d time.Duration, resources []schema.ActionResourceReference, onDone func()) *action {
	a := &action{Action: schema.Action{ID: f.id(), Status: "running", Command: command, Started: f.clock.Now(), Resources: resources},
		doneAt: f.clock.Now().Add(d), onDone: onDone}
	f.actions[a.ID] = a
	return a
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, schema.ErrorResponse{Error: schema.Error{Code: code, Message: msg}})
}

func notFound(w http.ResponseWriter, what string) {
	apiError(w, http.StatusNotFound, "not_found", what+" not found")
}

func invalid(w http.ResponseWriter, msg string) {
	apiError(w, http.StatusBadRequest, "invalid_input", msg)
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		invalid(w, "invalid JSON: "+err.Error())
		return false
	}
	return true
}

// matchLabels evaluates a label selector: comma-separated terms of k=v,
// k==v, k!=v, k and !k.
func matchLabels(selector string, labels map[string]string) bool {
	for _, term := range strings.Split(selector, ",") {
		term = strings.TrimSpace(term)
		switch {
		case term == "":
		case strings.Contains(term, "!="):
			k, v, _ := strings.Cut(term, "!=")
			if labels[k] == v {
				return false
			}
		case strings.Contains(term, "="):
			k, v, _ := strings.Cut(term, "=")
			v = strings.TrimPrefix(v, "=")
			if got, ok := labels[k]; !ok || got != v {
				return false
			}
		case strings.HasPrefix(term, "!"):
			if _, ok := labels[term[1:]]; ok {
				return false
			}
		default:
			if _, ok := labels[term]; !ok {
				return false
			}
		}
	}
	return true
}

func pathID(s string) (int64, bool) {
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil
}

func listMeta(n int) schema.Meta {
	return schema.Meta{Pagination: &schema.MetaPagination{Page: 1, PerPage: n, LastPage: 1, TotalEntries: n}}
}

func fmtLabels(m *map[string]string) map[string]string {
	out := map[string]string{}
	if m != nil {
		for k, v := range *m {
			out[k] = v
		}
	}
	return out
}

// privateMAC is the MAC of a server's NIC on a network: Hetzner's private
// NICs carry 86:00:00 followed by three bytes of their own.
func privateMAC(server, network int64) string {
	return net.HardwareAddr{0x86, 0x00, 0x00, byte(server), byte(network), byte(server>>8) ^ byte(network>>8)}.String()
}

// PrivateNets returns a server's private network attachments as the API
// reports them (address and NIC MAC), nil for an unknown server.
func (f *Fake) PrivateNets(id int64) []schema.ServerPrivateNet {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.servers[id]
	if s == nil {
		return nil
	}
	return append([]schema.ServerPrivateNet(nil), s.PrivateNet...)
}

// ServerTypeSpec is a server type's cores and memory in GB, as GET
// /server_types lists them.
func (f *Fake) ServerTypeSpec(name string) (cores int, memoryGB float64, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.serverTypes {
		if t.Name == name {
			return t.Cores, float64(t.Memory), true
		}
	}
	return 0, 0, false
}
