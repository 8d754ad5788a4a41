// Package sim is a simulated datacenter on loopback: the Latitude.sh API
// double, one fake Talos node per server (it boots when its server finishes
// deploying the Talos PXE image), the Talos Image Factory double, a real
// etcd + kube-apiserver behind the kubeconfig the nodes hand out, a Helm
// repository of stand-in charts, the Cloudflare DNS double, and a player
// doing what a cluster's controllers would. cto runs against it unchanged,
// pointed at it by the environment Env returns.
package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/storage"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/dns/cloudflarefake"
	"github.com/cto-platform/cto/internal/license"
	"github.com/cto-platform/cto/internal/license/devkey"
	"github.com/cto-platform/cto/internal/platform/platformtest"
	latfake "github.com/cto-platform/cto/internal/provider/latitude/fake"
	"github.com/cto-platform/cto/internal/talos"
	talosfake "github.com/cto-platform/cto/internal/talos/fake"
	"github.com/cto-platform/cto/test/kubeenv"
)

// Options shape the datacenter. Durations are simulated time unless said
// otherwise; the zero value is a healthy datacenter at Speed 600.
type Options struct {
	// Speed is how much faster than the wall clock simulated time runs
	// (default 600: a 10-minute server deploy takes a second). cto gets
	// the same factor through CTO_SIMULATED_SPEED.
	Speed float64
	// DeployTime is how long a server takes to reach "on" (default 10m).
	DeployTime time.Duration
	// ConnectTime is how long a VLAN assignment stays connecting (default 30s).
	ConnectTime time.Duration
	// InstallTime is how long a node installs Talos and reboots after taking
	// its config (default 2m); BootstrapTime is how long etcd and the API
	// server take to come up after Bootstrap (default 1m). Negative: at once.
	InstallTime   time.Duration
	BootstrapTime time.Duration
	// APILatency delays every Latitude answer (wall time).
	APILatency time.Duration
	// Latitude are the faults the Latitude double injects (Latency is
	// APILatency when unset). Change them later with Latitude().SetFaults.
	Latitude latfake.Faults
	// Talos are the faults of every Talos node; TalosFor, by hostname,
	// replaces them for one node.
	Talos    talosfake.Faults
	TalosFor map[string]talosfake.Faults
	// Seed makes the Latitude double's IDs and faults repeatable.
	Seed uint64
	// Zone is the Cloudflare zone the DNS double serves (default example.test).
	Zone string
	// Kube shares an already running API server (nil: start one, stopped
	// by Close).
	Kube *kubeenv.Env
	// PlayerInterval is how often the controllers' stand-in passes over the
	// cluster (wall time, default 50ms).
	PlayerInterval time.Duration
	// Logf, when set, is told what the datacenter does (servers booting,
	// nodes going away).
	Logf func(format string, args ...any)
}

// Sim is a running simulated datacenter. Close stops everything it started.
type Sim struct {
	opts  Options
	clock *clock.Scaled
	block string

	latitude   *latfake.Fake
	latSrv     *httptest.Server
	factory    *talosfake.Factory
	factorySrv *httptest.Server
	dns        *cloudflarefake.Server
	mirrorSrv  *httptest.Server
	mirrorDir  string
	stateSrv   *httptest.Server
	kube       *kubeenv.Env
	ownKube    bool
	player     *kubeenv.Player
	stopPlay   context.CancelFunc
	playDone   chan struct{}
	trustd     *talosfake.Trustd
	license    string

	mu      sync.Mutex
	nodes   map[string]*simNode // by IP
	history []NodeState         // nodes that went away
	closed  bool
}

type simNode struct {
	node     *talosfake.Node
	api      *apiProxy
	serverID string
	ip       string
	booted   time.Time
}

// Start brings the datacenter up on loopback and returns when every part
// answers.
func Start(ctx context.Context, opts Options) (s *Sim, err error) {
	if opts.Speed <= 0 {
		opts.Speed = 600
	}
	if opts.InstallTime == 0 {
		opts.InstallTime = 2 * time.Minute
	}
	if opts.BootstrapTime == 0 {
		opts.BootstrapTime = time.Minute
	}
	opts.InstallTime = max(opts.InstallTime, 0)
	opts.BootstrapTime = max(opts.BootstrapTime, 0)
	if opts.Zone == "" {
		opts.Zone = "example.test"
	}
	if opts.PlayerInterval <= 0 {
		opts.PlayerInterval = 50 * time.Millisecond
	}
	if opts.Latitude.Latency == 0 {
		opts.Latitude.Latency = opts.APILatency
	}
	s = &Sim{opts: opts, clock: clock.NewScaled(opts.Speed), block: talosfake.LoopbackBlock(),
		trustd: &talosfake.Trustd{}, nodes: map[string]*simNode{}}
	defer func() {
		if err != nil {
			s.Close()
			s = nil
		}
	}()

	if opts.Kube != nil {
		s.kube = opts.Kube
	} else {
		if s.kube, err = kubeenv.Start(ctx); err != nil {
			return nil, err
		}
		s.ownKube = true
	}

	s.factory = talosfake.NewFactory()
	s.factorySrv = httptest.NewServer(s.factory)

	s.latitude = latfake.New(latfake.Options{
		Clock: s.clock, DeployTime: opts.DeployTime, ConnectTime: opts.ConnectTime,
		IPBase: s.block + "10", Seed: opts.Seed,
		OnDeployed: s.serverDeployed, OnDeleted: s.serverDeleted,
	})
	s.latitude.SetFaults(func(f *latfake.Faults) { *f = opts.Latitude })
	s.latSrv = httptest.NewServer(s.latitude)

	s.dns = cloudflarefake.New("sim-cloudflare-token", opts.Zone)
	s.dns.Start()

	if s.mirrorDir, err = os.MkdirTemp("", "cto-sim-charts-"); err != nil {
		return nil, err
	}
	s.mirrorSrv = httptest.NewServer(http.FileServer(http.Dir(s.mirrorDir)))
	if err = platformtest.WriteRepository(s.mirrorDir, s.mirrorSrv.URL); err != nil {
		return nil, err
	}

	now := time.Now()
	s.license, err = license.Sign(license.License{ID: "L-sim", Customer: "Simulated datacenter", Tier: license.Enterprise,
		IssuedAt: now.AddDate(0, 0, -1), ExpiresAt: now.AddDate(1, 0, 0)}, devkey.Key())
	if err != nil {
		return nil, err
	}

	if s.player, err = kubeenv.NewPlayer(s.kube.Kubeconfig); err != nil {
		return nil, err
	}
	playCtx, cancel := context.WithCancel(context.Background())
	s.stopPlay, s.playDone = cancel, make(chan struct{})
	go s.play(playCtx)

	s.stateSrv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/_fake/state" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.State())
	}))
	return s, nil
}

func (s *Sim) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

// Env is the environment that points cto at the datacenter, as KEY=VALUE.
func (s *Sim) Env() []string {
	env := []string{
		"LATITUDESH_API_URL=" + s.latSrv.URL,
		"LATITUDESH_AUTH_TOKEN=" + s.latitude.Token(),
		"CTO_IMAGE_FACTORY_URL=" + s.factorySrv.URL,
		"CTO_CHART_MIRROR=" + s.mirrorSrv.URL,
		"CTO_LICENSE=" + s.license,
		"CTO_SIMULATED_SPEED=" + strconv.FormatFloat(s.opts.Speed, 'f', -1, 64),
		"CTO_SIM_KUBECONFIG=" + s.kube.Kubeconfig,
		"CTO_SIM_STATE_URL=" + s.stateSrv.URL + "/_fake/state",
	}
	return append(env, s.dns.Env()...)
}

// Close stops every part the datacenter started. It is safe to call twice.
func (s *Sim) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	nodes := s.nodes
	s.nodes = map[string]*simNode{}
	s.mu.Unlock()
	if s.stopPlay != nil {
		s.stopPlay()
		<-s.playDone
	}
	for _, n := range nodes {
		n.stop()
	}
	for _, srv := range []*httptest.Server{s.stateSrv, s.latSrv, s.factorySrv, s.mirrorSrv} {
		if srv != nil {
			srv.Close()
		}
	}
	if s.dns != nil {
		s.dns.Close()
	}
	if s.mirrorDir != "" {
		os.RemoveAll(s.mirrorDir)
	}
	if s.ownKube {
		s.kube.Stop()
	}
}

// Latitude is the Latitude.sh double (state, faults, stock).
func (s *Sim) Latitude() *latfake.Fake { return s.latitude }

// Factory is the Talos Image Factory double.
func (s *Sim) Factory() *talosfake.Factory { return s.factory }

// DNS is the Cloudflare double.
func (s *Sim) DNS() *cloudflarefake.Server { return s.dns }

// Kube is the simulated cluster's API server.
func (s *Sim) Kube() *kubeenv.Env { return s.kube }

// Player stands in for the cluster's controllers (make a component
// unhealthy with Player().Unhealthy).
func (s *Sim) Player() *kubeenv.Player { return s.player }

// Zone is the DNS zone the Cloudflare double serves.
func (s *Sim) Zone() string { return s.opts.Zone }

// Clock is the datacenter's simulated clock.
func (s *Sim) Clock() clock.Clock { return s.clock }

// Node returns the running Talos node of a hostname, nil if none.
func (s *Sim) Node(hostname string) *talosfake.Node {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.nodes {
		if n.node.Name == hostname {
			return n.node
		}
	}
	return nil
}

// NodeState is one Talos node as State reports it.
type NodeState struct {
	Hostname       string `json:"hostname"`
	ServerID       string `json:"server_id"`
	IP             string `json:"ip"`
	Role           string `json:"role,omitempty"` // controlplane or worker once configured
	Configured     bool   `json:"configured"`
	Bootstrapped   bool   `json:"bootstrapped"`
	ApplyCalls     int    `json:"apply_calls"`
	BootstrapCalls int    `json:"bootstrap_calls"`
	Running        bool   `json:"running"` // false: its server was deleted or reinstalled
}

// State is the whole datacenter, as GET /_fake/state of CTO_SIM_STATE_URL
// answers it.
type State struct {
	Latitude latfake.State `json:"latitude"`
	Nodes    []NodeState   `json:"nodes"`
	// Bootstraps is how many nodes ever started etcd (1 for a healthy
	// cluster, whatever the number of runs).
	Bootstraps int                     `json:"bootstraps"`
	Schematics int                     `json:"schematic_posts"`
	DNSCalls   map[string]int          `json:"dns_requests"`
	DNSRecords []cloudflarefake.Record `json:"dns_records"`
}

// State snapshots every fake.
func (s *Sim) State() State {
	st := State{Latitude: s.latitude.State(), Schematics: s.factory.Posts(), DNSCalls: s.dns.Calls(), DNSRecords: s.dns.Records(s.opts.Zone)}
	st.Nodes = s.Nodes()
	for _, n := range st.Nodes {
		if n.Bootstrapped {
			st.Bootstraps++
		}
	}
	return st
}

// Nodes lists every Talos node the datacenter booted, running or gone,
// sorted by hostname.
func (s *Sim) Nodes() []NodeState {
	s.mu.Lock()
	out := append([]NodeState(nil), s.history...)
	for _, n := range s.nodes {
		out = append(out, n.state(true))
	}
	s.mu.Unlock()
	sort.SliceStable(out, func(a, b int) bool { return out[a].Hostname < out[b].Hostname })
	return out
}

func (n *simNode) stop() {
	n.node.Stop()
	n.api.close()
}

func (n *simNode) state(running bool) NodeState {
	st := NodeState{Hostname: n.node.Name, ServerID: n.serverID, IP: n.ip, Bootstrapped: n.node.Bootstrapped(),
		ApplyCalls: n.node.ApplyCalls(), BootstrapCalls: n.node.BootstrapCalls(), Running: running}
	if cfg := n.node.Config(); cfg != nil {
		st.Configured = true
		st.Role = cfg.Machine().Type().String()
	}
	return st
}

// serverDeployed boots a server that reached "on": when it was told to
// boot the factory's Talos PXE image, a Talos node in maintenance mode
// comes up on its address.
func (s *Sim) serverDeployed(srv latfake.ServerState) {
	if !strings.HasPrefix(srv.IPXE, s.factorySrv.URL+"/pxe/") {
		s.logf("server %s (%s) booted %q, not Talos: no node", srv.Hostname, srv.IP, srv.IPXE)
		return
	}
	faults := s.opts.Talos
	if f, ok := s.opts.TalosFor[srv.Hostname]; ok {
		faults = f
	}
	// The kubeconfig a node hands out names the cluster's endpoint, as
	// Talos's does: a control plane's address (served by apiProxy) or a
	// DNS name.
	n := &talosfake.Node{Name: srv.Hostname, Disks: disks(srv.Plan, srv.IP), KubeconfigToken: s.kube.Token, Faults: faults,
		Trustd: s.trustd, InstallTime: s.opts.InstallTime, BootstrapTime: s.opts.BootstrapTime, Clock: s.clock}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if old := s.nodes[srv.IP]; old != nil {
		// A reinstall boots the server afresh.
		old.stop()
		s.history = append(s.history, old.state(false))
		delete(s.nodes, srv.IP)
	}
	addr := net.JoinHostPort(srv.IP, strconv.Itoa(talos.APIPort))
	var err error
	for range 50 {
		if err = n.Start(addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond) // the old node's port is closing
	}
	if err != nil {
		s.logf("server %s: the Talos node cannot listen on %s: %v", srv.Hostname, addr, err)
		return
	}
	api, err := s.startAPIProxy(srv.IP, n)
	if err != nil {
		n.Stop()
		s.logf("server %s: cannot serve the Kubernetes API on %s: %v", srv.Hostname, srv.IP, err)
		return
	}
	s.nodes[srv.IP] = &simNode{node: n, api: api, serverID: srv.ID, ip: srv.IP, booted: s.clock.Now()}
	s.logf("server %s is on: Talos maintenance mode at %s", srv.Hostname, addr)
}

// serverDeleted powers a deleted server's node off.
func (s *Sim) serverDeleted(srv latfake.ServerState) {
	s.mu.Lock()
	n := s.nodes[srv.IP]
	if n != nil && n.serverID == srv.ID {
		delete(s.nodes, srv.IP)
		s.history = append(s.history, n.state(false))
	} else {
		n = nil
	}
	s.mu.Unlock()
	if n != nil {
		n.stop()
		s.deleteKubeNode(srv.Hostname)
		s.logf("server %s deleted: its node is gone", srv.Hostname)
	}
}

// disks are a server's drives as its plan lists them, behind a CD drive,
// with serials unique to the server.
func disks(plan, ip string) []*storage.Disk {
	out := []*storage.Disk{{DeviceName: "/dev/sr0", Type: storage.Disk_CD, Size: 1e9, Serial: "CDROM"}}
	nvme, sd := 0, 0
	for _, p := range latfake.Catalogue() {
		if p.Slug != plan {
			continue
		}
		for _, d := range p.Drives {
			for i := range d.Count {
				disk := &storage.Disk{Size: driveBytes(d.Size), Serial: fmt.Sprintf("%s-%d-%s", d.Type, i, ip)}
				switch strings.ToUpper(d.Type) {
				case "NVME":
					disk.Type, disk.DeviceName, disk.Wwid = storage.Disk_NVME, fmt.Sprintf("/dev/nvme%dn1", nvme), fmt.Sprintf("eui.%d-%s", nvme, ip)
					nvme++
				case "HDD":
					disk.Type, disk.DeviceName = storage.Disk_HDD, fmt.Sprintf("/dev/sd%c", 'a'+sd)
					sd++
				default:
					disk.Type, disk.DeviceName = storage.Disk_SSD, fmt.Sprintf("/dev/sd%c", 'a'+sd)
					sd++
				}
				out = append(out, disk)
			}
		}
	}
	if len(out) == 1 {
		out = append(out, &storage.Disk{DeviceName: "/dev/sda", Type: storage.Disk_SSD, Size: 480e9, Serial: "SSD-" + ip})
	}
	return out
}

// driveBytes reads a catalogue size ("500 GB", "1.9 TB", "3.8TB").
func driveBytes(size string) uint64 {
	size = strings.ToUpper(strings.ReplaceAll(size, " ", ""))
	unit := 1e9
	if v, ok := strings.CutSuffix(size, "TB"); ok {
		size, unit = v, 1e12
	} else {
		size = strings.TrimSuffix(size, "GB")
	}
	v, err := strconv.ParseFloat(size, 64)
	if err != nil {
		return 480e9
	}
	return uint64(v * unit)
}

// WaitIdle waits until no Latitude server is still deploying, for tests
// that inspect a settled datacenter.
func (s *Sim) WaitIdle(ctx context.Context) error {
	for {
		busy := false
		for _, srv := range s.latitude.State().Servers {
			busy = busy || srv.Status == "deploying"
		}
		if !busy {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// String names the datacenter's addresses, for logs.
func (s *Sim) String() string {
	return fmt.Sprintf("simulated datacenter: Latitude %s, nodes %s*, %s", s.latSrv.URL, s.block, s.kube)
}
