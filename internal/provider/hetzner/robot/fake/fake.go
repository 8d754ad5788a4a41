// Package fake is a stateful double of the Hetzner Robot web service:
// HTTP Basic auth with the 3-failed-logins lockout, form-encoded requests,
// JSON answers, servers that reset into a rescue system reachable over SSH
// (an in-process SSH server per server), vSwitches that process one change
// at a time, products and orders, all on a simulated clock, with fault
// injection. GET /_fake/state dumps the state as JSON.
package fake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/fakekit"
	"github.com/cto-platform/cto/internal/provider/hetzner/rescue"
	rescuefake "github.com/cto-platform/cto/internal/provider/hetzner/rescue/fake"
)

// Credentials the fake accepts.
const (
	User     = "#ws+fake"
	Password = "fake-robot-password"
)

// How long things take in simulated time.
const (
	bootTime     = 90 * time.Second
	vswitchTime  = 30 * time.Second
	deliveryTime = 10 * time.Minute
	lockout      = 10 * time.Minute
)

// Server is one dedicated server of the fake account.
type Server struct {
	Number    int    `json:"server_number"`
	IP        string `json:"server_ip"`
	Name      string `json:"server_name"`
	Product   string `json:"product"`
	DC        string `json:"dc"`
	Status    string `json:"status"`
	Cancelled bool   `json:"cancelled"`

	// Booted is what runs: "os" (what the customer had), "rescue" or
	// "talos" (after an image write and a reboot).
	Booted        string            `json:"booted"`
	RescueActive  bool              `json:"rescue_active"`
	RescueKey     string            `json:"rescue_key,omitempty"`
	Resets        int               `json:"resets"`
	Cancellations int               `json:"cancellation_requests"`
	Written       map[string]string `json:"written,omitempty"`
	Commands      []string          `json:"rescue_commands,omitempty"`

	bootAt  time.Time
	machine *rescuefake.Machine
	ssh     *rescuefake.Server
}

// Product is an orderable model.
type Product struct {
	ID          string
	Name        string
	Description []string
	Monthly     map[string]float64 // location -> net EUR
	Setup       float64
	InStock     map[string]bool
	Disks       []rescue.Disk
}

type vswitch struct {
	ID        int            `json:"id"`
	Name      string         `json:"name"`
	VLAN      int            `json:"vlan"`
	Cancelled bool           `json:"cancelled"`
	Members   map[int]string `json:"members"` // server -> ready|processing
	busyUntil time.Time
}

type transaction struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Product  string `json:"product"`
	Location string `json:"location"`
	Comment  string `json:"comment"`
	Auction  bool   `json:"auction"`
	Server   int    `json:"server_number,omitempty"`
	readyAt  time.Time
}

// Options configure NewWithOptions.
type Options struct {
	// Clock is the fake's time (default a simulated clock that moves a
	// second per request and with Advance).
	Clock clock.Clock
	// IPBase, when set, is the first server IP handed out (then counting
	// up), so a simulated datacenter can put servers on loopback. Unset:
	// documentation addresses.
	IPBase string
	// RescuePort, when set, is the port each rescue system's SSH server
	// listens on at its server's IP (default: any loopback port, see
	// RescueAddr).
	RescuePort int
	// OnBooted is called when a server comes up from the Talos image
	// written in its rescue system; OnStopped when a server that ran it is
	// reset. Both run outside the fake's lock: a simulated datacenter
	// boots a Talos node there.
	OnBooted  func(Server)
	OnStopped func(Server)
}

// Fake is the Robot double; an http.Handler.
type Fake struct {
	mu    sync.Mutex
	clock clock.Clock
	opts  Options
	door  fakekit.Door

	servers      map[int]*Server
	products     []*Product
	vswitches    map[int]*vswitch
	transactions map[string]*transaction
	keys         map[string]ssh.PublicKey

	failedLogins int
	blockedUntil time.Time
	unauthorized int
	faults       fakekit.Faults
	failNext     bool
	nextNumber   int
	nextID       int
}

// DefaultDisks are the disks of the fake's AX-style servers: two NVMe and
// two big spinning disks.
var DefaultDisks = []rescue.Disk{
	{Name: "sda", SizeBytes: 4000 << 30, Type: "disk", Model: "TOSHIBA MG04ACA4", Rotational: true, Transport: "sata"},
	{Name: "nvme1n1", SizeBytes: 512 << 30, Type: "disk", Model: "SAMSUNG MZVL2512", Serial: "S2", Transport: "nvme"},
	{Name: "nvme0n1", SizeBytes: 512 << 30, Type: "disk", Model: "SAMSUNG MZVL2512", Serial: "S1", Transport: "nvme"},
	{Name: "sdb", SizeBytes: 4000 << 30, Type: "disk", Model: "TOSHIBA MG04ACA4", Rotational: true, Transport: "sata"},
}

// New returns an account with two products and no servers, on a
// simulated clock that moves a second per request and with Advance.
func New() *Fake { return NewWithClock(fakekit.NewClock()) }

// NewWithClock is New on another clock (a clock.Scaled for the simulated
// datacenter).
func NewWithClock(c clock.Clock) *Fake { return NewWithOptions(Options{Clock: c}) }

// NewWithOptions is New configured by o.
func NewWithOptions(o Options) *Fake {
	if o.Clock == nil {
		o.Clock = fakekit.NewClock()
	}
	c := o.Clock
	f := &Fake{clock: c, opts: o, servers: map[int]*Server{}, vswitches: map[int]*vswitch{},
		transactions: map[string]*transaction{}, keys: map[string]ssh.PublicKey{}, nextNumber: 100000, nextID: 30000}
	f.products = []*Product{
		{ID: "AX42", Name: "Dedicated Server AX42", Description: []string{"AMD Ryzen 7 PRO 8700GE 8-Core", "64 GB DDR5 ECC RAM", "2 x 512 GB NVMe SSD"},
			Monthly: map[string]float64{"FSN1": 46, "NBG1": 46, "HEL1": 46}, Setup: 0, InStock: map[string]bool{"FSN1": true, "NBG1": true, "HEL1": true}, Disks: DefaultDisks},
		{ID: "EX130-R", Name: "Dedicated Server EX130-R", Description: []string{"Intel Xeon Gold 5412U 24-Core", "256 GB DDR5 ECC RAM", "2 x 1.92 TB NVMe SSD"},
			Monthly: map[string]float64{"FSN1": 139, "NBG1": 139}, Setup: 79, InStock: map[string]bool{"FSN1": true}, Disks: DefaultDisks},
	}
	return f
}

// Clock is the fake's time.
func (f *Fake) Clock() clock.Clock { return f.clock }

// Advance moves a simulated clock forward (a scaled one moves by itself).
func (f *Fake) Advance(d time.Duration) { fakekit.Advance(f.clock, d) }

// AddServer adds a rented server of product at a data center (FSN1-DC14)
// and returns its number.
func (f *Fake) AddServer(product, dc string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addServer(product, dc)
}

func (f *Fake) addServer(product, dc string) int {
	f.nextNumber++
	n := f.nextNumber
	disks := DefaultDisks
	for _, p := range f.products {
		if p.ID == product {
			disks = p.Disks
		}
	}
	f.servers[n] = &Server{Number: n, IP: f.serverIP(n), Name: "", Product: product, DC: dc,
		Status: "ready", Booted: "os", machine: rescuefake.NewMachine(disks)}
	return n
}

// serverIP is the IP of server n: from Options.IPBase, one per server in
// order, or a documentation address.
func (f *Fake) serverIP(n int) string {
	base, err := netip.ParseAddr(f.opts.IPBase)
	if err != nil {
		return fmt.Sprintf("198.51.100.%d", n%250+1)
	}
	for range len(f.servers) {
		base = base.Next()
	}
	return base.String()
}

// queue runs hook with a copy of s once the lock is released.
func (f *Fake) queue(hook func(Server), s *Server) {
	if hook != nil {
		c := *s
		f.door.Hooks.Add(func() { hook(c) })
	}
}

// AddKey registers an SSH key with the account, as Robot's key store.
func (f *Fake) AddKey(key ssh.PublicKey) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	fp := fingerprint(key)
	f.keys[fp] = key
	return fp
}

// CancelServer marks a server cancelled (the customer gave notice).
func (f *Fake) CancelServer(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.servers[n]; ok {
		s.Cancelled = true
	}
}

// SetOutOfStock stops offering product at location.
func (f *Fake) SetOutOfStock(product, location string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.products {
		if p.ID == product {
			p.InStock[location] = false
		}
	}
}

// FailNextInstall makes the next image write on any server fail.
func (f *Fake) FailNextInstall() { f.mu.Lock(); f.failNext = true; f.mu.Unlock() }

// InjectRateLimit answers the next n requests 429 with Retry-After.
func (f *Fake) InjectRateLimit(n, retryAfterSeconds int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults.Add(n, fakekit.Fault{Status: http.StatusTooManyRequests, RetryAfter: retryAfterSeconds})
}

// InjectEndpointLimit answers the next n requests as Robot does when an
// endpoint's hourly limit is used up: 403 RATE_LIMIT_EXCEEDED.
func (f *Fake) InjectEndpointLimit(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults.Add(n, fakekit.Fault{Status: http.StatusForbidden, Code: "RATE_LIMIT_EXCEEDED"})
}

// InjectServerErrors answers the next n requests with status.
func (f *Fake) InjectServerErrors(n, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults.Add(n, fakekit.Fault{Status: status})
}

// SetSlow delays every answer by d of real time.
func (f *Fake) SetSlow(d time.Duration) { f.door.Slow.Set(d) }

// Settle lets an hour of simulated time pass.
func (f *Fake) Settle() {
	fakekit.Advance(f.clock, time.Hour)
	f.mu.Lock()
	f.progress()
	f.mu.Unlock()
}

// Close stops the rescue SSH servers.
func (f *Fake) Close() {
	f.mu.Lock()
	var all []*rescuefake.Server
	for _, s := range f.servers {
		if s.ssh != nil {
			all = append(all, s.ssh)
		}
	}
	f.mu.Unlock()
	for _, s := range all {
		s.Close()
	}
}

// RescueAddr is the SSH address of the rescue system of the server with
// this IP (a closed port until the server was first reset into rescue).
func (f *Fake) RescueAddr(ip string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.servers {
		if s.IP == ip && s.ssh != nil {
			return s.ssh.Addr()
		}
	}
	return "127.0.0.1:1"
}

// Machine is a server's rescue-side view (disks, commands, writes).
func (f *Fake) Machine(n int) *rescuefake.Machine {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.servers[n]; ok {
		return s.machine
	}
	return nil
}

// State is the whole fake, as GET /_fake/state returns it.
type State struct {
	Now          time.Time     `json:"now"`
	Requests     int           `json:"requests"`
	Unauthorized int           `json:"unauthorized"`
	Servers      []Server      `json:"servers"`
	VSwitches    []vswitch     `json:"vswitches"`
	Transactions []transaction `json:"transactions"`
	Blocked      bool          `json:"blocked"`
}

// Snapshot returns the state.
func (f *Fake) Snapshot() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.progress()
	st := State{Now: f.clock.Now(), Requests: f.door.Requests, Unauthorized: f.unauthorized, Blocked: f.clock.Now().Before(f.blockedUntil)}
	for _, n := range sortedInts(f.servers) {
		s := *f.servers[n]
		s.Written = s.machine.Written()
		s.Commands = s.machine.Commands()
		st.Servers = append(st.Servers, s)
	}
	for _, id := range sortedInts(f.vswitches) {
		st.VSwitches = append(st.VSwitches, *f.vswitches[id])
	}
	ids := make([]string, 0, len(f.transactions))
	for id := range f.transactions {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		st.Transactions = append(st.Transactions, *f.transactions[id])
	}
	return st
}

func sortedInts[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}

func fingerprint(key ssh.PublicKey) string {
	// Robot's MD5 fingerprint, colon-separated.
	return strings.TrimPrefix(ssh.FingerprintLegacyMD5(key), "MD5:")
}

// progress moves time-driven state along.
func (f *Fake) progress() {
	now := f.clock.Now()
	for _, s := range f.servers {
		if !s.bootAt.IsZero() && !now.Before(s.bootAt) {
			s.bootAt = time.Time{}
			if s.RescueActive {
				s.RescueActive = false
				s.Booted = "rescue"
			} else if len(s.machine.Written()) > 0 {
				s.Booted = "talos"
				f.queue(f.opts.OnBooted, s)
			} else {
				s.Booted = "os"
			}
		}
	}
	for _, v := range f.vswitches {
		if !now.Before(v.busyUntil) {
			for n, st := range v.Members {
				if st == "processing" {
					v.Members[n] = "ready"
				}
			}
		}
	}
	for _, tx := range f.transactions {
		if tx.Status == "in process" && !now.Before(tx.readyAt) {
			tx.Status = "ready"
			tx.Server = f.addServer(tx.Product, tx.Location+"-DC1")
		}
	}
}

// ServeHTTP answers one request.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	leave, ok := f.door.Enter(w, r, &f.mu, func() any { return f.Snapshot() })
	if !ok {
		return
	}
	defer leave()
	fakekit.Advance(f.clock, time.Second)
	f.progress()
	now := f.clock.Now()
	if now.Before(f.blockedUntil) {
		robotError(w, http.StatusForbidden, "BLOCKED", "your IP is blocked for 10 minutes after 3 failed logins")
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || user != User || pass != Password {
		f.unauthorized++
		f.failedLogins++
		if f.failedLogins >= 3 {
			f.blockedUntil = now.Add(lockout)
			f.failedLogins = 0
		}
		robotError(w, http.StatusUnauthorized, "UNAUTHORIZED", "Unauthorized")
		return
	}
	f.failedLogins = 0
	if ft, ok := f.faults.Next(w); ok {
		if ft.Code == "RATE_LIMIT_EXCEEDED" {
			writeJSON(w, ft.Status, map[string]any{"error": map[string]any{"status": ft.Status, "code": ft.Code,
				"message": "Rate limit exceeded", "max_request": 200, "interval": 3600}})
			return
		}
		robotError(w, ft.Status, "INTERNAL_ERROR", "injected fault")
		return
	}
	if r.Method == http.MethodDelete {
		// net/http parses no DELETE body; Robot takes form fields there.
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.PostForm, _ = url.ParseQuery(string(body))
	}
	if r.Method != http.MethodGet {
		if err := r.ParseForm(); err != nil {
			robotError(w, http.StatusBadRequest, "INVALID_INPUT", "invalid form")
			return
		}
		if ct := r.Header.Get("Content-Type"); len(r.PostForm) > 0 && !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
			robotError(w, http.StatusBadRequest, "INVALID_INPUT", "requests must be form encoded")
			return
		}
	}
	f.route(w, r)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func robotError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"status": status, "code": code, "message": msg}})
}
