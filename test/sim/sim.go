// Package sim is a simulated datacenter on loopback: the Latitude.sh API
// double, one fake Talos node per server (it boots when its server finishes
// deploying the Talos PXE image), the Talos Image Factory double, a real
// etcd + kube-apiserver behind the kubeconfig the nodes hand out, with the
// real controller manager and scheduler and KWOK running the nodes the
// servers register, the doubles of the platform's controllers (Argo CD and
// others, test/controllers), a Helm repository of the charts' models and
// the Cloudflare DNS double. cto runs against it unchanged,
// pointed at it by the environment Env returns.
package sim

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/storage"
	"golang.org/x/crypto/ssh"

	"github.com/cto-platform/cto/internal/clock"
	cffake "github.com/cto-platform/cto/internal/dns/cloudflare/fake"
	"github.com/cto-platform/cto/internal/license"
	"github.com/cto-platform/cto/internal/license/devkey"
	"github.com/cto-platform/cto/internal/platform/platformtest"
	"github.com/cto-platform/cto/internal/provider"
	hcfake "github.com/cto-platform/cto/internal/provider/hetzner/fake"
	"github.com/cto-platform/cto/internal/provider/hetzner/rescue"
	rescuefake "github.com/cto-platform/cto/internal/provider/hetzner/rescue/fake"
	robotfake "github.com/cto-platform/cto/internal/provider/hetzner/robot/fake"
	latfake "github.com/cto-platform/cto/internal/provider/latitude/fake"
	vultrfake "github.com/cto-platform/cto/internal/provider/vultr/fake"
	"github.com/cto-platform/cto/internal/talos"
	talosfake "github.com/cto-platform/cto/internal/talos/fake"
	"github.com/cto-platform/cto/test/controllers"
	"github.com/cto-platform/cto/test/controllers/argocd"
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
	// server take to come up after Bootstrap (default 3m; the kubeconfig
	// is handed out at once, as real Talos does). Negative: at once.
	InstallTime   time.Duration
	BootstrapTime time.Duration
	// APILatency delays every Latitude answer (wall time).
	APILatency time.Duration
	// LatitudeNoDHCP makes the Latitude account one whose custom images
	// boot without DHCP: the double fills the address placeholders of an
	// iPXE script, and a Talos without ip= for its server's address gets
	// no address (boot.go).
	LatitudeNoDHCP bool
	// LatitudeQuota is the Latitude API's per-key request budget the
	// double enforces, answering 429 with Retry-After past it (zero:
	// unlimited). latfake.PublishedQuota is the documented figure.
	LatitudeQuota latfake.Quota
	// Latitude are the faults the Latitude double injects (Latency is
	// APILatency when unset). Change them later with Latitude().SetFaults.
	Latitude latfake.Faults
	// TalosVersions are the Talos versions the Image Factory double serves
	// besides talos.DefaultTalosVersion, e.g. the ones a test upgrades to.
	TalosVersions []string
	// Talos are the faults of every Talos node; TalosFor, by hostname,
	// replaces them for one node.
	Talos    talosfake.Faults
	TalosFor map[string]talosfake.Faults
	// HetznerNoTalosISO removes Hetzner Cloud's public Talos ISOs, so cto
	// builds a Talos snapshot over the rescue system instead.
	HetznerNoTalosISO bool
	// RobotServers is how many dedicated servers the Hetzner Robot
	// account rents (default 3), all AX42s in FSN1.
	RobotServers int
	// Seed makes the Latitude double's IDs and faults repeatable.
	Seed uint64
	// Zone is the Cloudflare zone the DNS double serves (default example.test).
	Zone string
	// Kube shares an already running API server (nil: start one, stopped
	// by Close).
	Kube *kubeenv.Env
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
	hcloud     *hcfake.Fake
	hcloudSrv  *httptest.Server
	vultr      *vultrfake.API
	vultrSrv   *httptest.Server
	robot      *robotfake.Fake
	robotSrv   *httptest.Server
	rescuePort int
	robotKey   string // private key file the account knows
	robotNums  []string
	// deletedServers are the Latitude servers deleted so far (under mu).
	deletedServers  []latfake.ServerState
	hcRescue        map[int64]*rescuefake.Server // Hetzner Cloud rescue systems, by server
	factory         *talosfake.Factory
	factorySrv      *httptest.Server
	dns             *cffake.Server
	mirrorSrv       *httptest.Server
	mirrorDir       string
	stateSrv        *httptest.Server
	acmeSrv         *httptest.Server
	kube            *kubeenv.Env
	ownKube         bool
	stopControllers func()
	stopPlay        context.CancelFunc
	playDone        chan struct{}
	trustd          *talosfake.Trustd
	etcd            *talosfake.Etcd
	license         string

	mu      sync.Mutex
	nodes   map[string]*simNode  // by IP
	lbs     map[string]*apiProxy // load balancers' API ports, by IP
	history []NodeState          // nodes that went away
	closed  bool
	// kubeletsUp: the hostnames whose kubelet registered its Node since
	// it last stopped.
	kubeletsUp map[string]bool
	// cordonedBefore: the hostnames whose Node was cordoned before their
	// machine went down, which stay cordoned when it comes back.
	cordonedBefore map[string]bool
	// staticPods: the control planes' static pods (staticpods.go).
	staticPods staticPodState
	// vipHolders: which control plane announces each VIP (VIPHolder).
	vipHolders map[netip.Addr]string
}

type simNode struct {
	node     *talosfake.Node
	api      *apiProxy
	serverID string
	ip       string
	hw       hardware
	booted   time.Time
}

// hardware is what a server's plan gives its kubelet to register: cores
// and memory in GiB (GPUs count only with the drivers: Sim.gpus).
type hardware struct{ cores, memoryGiB int }

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
		opts.BootstrapTime = 3 * time.Minute
	}
	opts.InstallTime = max(opts.InstallTime, 0)
	opts.BootstrapTime = max(opts.BootstrapTime, 0)
	if opts.Zone == "" {
		opts.Zone = "example.test"
	}
	if opts.Latitude.Latency == 0 {
		opts.Latitude.Latency = opts.APILatency
	}
	s = &Sim{opts: opts, clock: clock.NewScaled(opts.Speed), block: talosfake.LoopbackBlock(),
		trustd: &talosfake.Trustd{}, etcd: &talosfake.Etcd{}, nodes: map[string]*simNode{}, lbs: map[string]*apiProxy{}, vipHolders: map[netip.Addr]string{}}
	// Every early return below sets s to nil, so the half-started datacenter
	// is kept aside to be closed.
	started := s
	defer func() {
		if err != nil {
			started.Close()
			s = nil
		}
	}()

	if opts.Kube != nil {
		s.kube = opts.Kube
	} else {
		if s.kube, err = kubeenv.StartWith(ctx, kubeenv.Options{Workloads: true}); err != nil {
			return nil, err
		}
		s.ownKube = true
	}

	s.factory = talosfake.NewFactory(append([]string{talos.DefaultTalosVersion}, opts.TalosVersions...)...)
	s.factorySrv = httptest.NewServer(s.factory)

	s.latitude = latfake.New(latfake.Options{
		Clock: s.clock, DeployTime: opts.DeployTime, ConnectTime: opts.ConnectTime,
		IPBase: s.block + "10", Seed: opts.Seed, NoDHCP: opts.LatitudeNoDHCP, Quota: opts.LatitudeQuota,
		OnDeployed: s.serverDeployed, OnDeleted: s.serverDeleted,
	})
	s.latitude.SetFaults(func(f *latfake.Faults) { *f = opts.Latitude })
	s.latSrv = httptest.NewServer(s.latitude)

	// Each provider's servers get addresses of their own in the block:
	// Latitude from .10, Hetzner Cloud from .100, Vultr from .150.
	s.hcloud = hcfake.New(hcfake.Options{Clock: s.clock, IPBase: s.block + "100",
		OnBooted: s.hcloudBooted, OnStopped: s.hcloudStopped, OnLoadBalancer: s.loadBalancer})
	s.hcloudSrv = httptest.NewServer(s.hcloud)
	if opts.HetznerNoTalosISO {
		for _, iso := range []string{"talos-v1.12.4-amd64.iso", "talos-v1.13.9-amd64.iso"} {
			s.hcloud.RemoveISO(iso)
		}
	}
	s.vultr = vultrfake.New(vultrfake.Options{Clock: s.clock, DeployTime: opts.DeployTime, IPBase: s.block + "150",
		OnActive: s.vultrActive, OnDeleted: s.vultrDeleted})
	s.vultrSrv = httptest.NewServer(s.vultr)
	if err = s.startRobot(opts.RobotServers); err != nil {
		return nil, err
	}

	s.dns = cffake.New("sim-cloudflare-token", opts.Zone)
	s.dns.Start()
	s.acmeSrv = httptest.NewServer(http.HandlerFunc(acmeDirectory))

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

	if s.stopControllers, err = controllers.Start(s.kube.Kubeconfig, argocd.Options{}); err != nil {
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
		"HCLOUD_ENDPOINT=" + s.hcloudSrv.URL,
		"HCLOUD_TOKEN=" + hcfake.Token,
		"HCLOUD_RESCUE_SSH_PORT=" + strconv.Itoa(s.rescuePort),
		"VULTR_API_URL=" + s.vultrSrv.URL,
		"VULTR_API_KEY=" + s.vultr.Token(),
		"HETZNER_ROBOT_URL=" + s.robotSrv.URL,
		"HETZNER_ROBOT_USER=" + robotfake.User,
		"HETZNER_ROBOT_PASSWORD=" + robotfake.Password,
		"HETZNER_ROBOT_SSH_KEY=" + s.robotKey,
		"HETZNER_ROBOT_SSH_PORT=" + strconv.Itoa(s.rescuePort),
		"HETZNER_ROBOT_SERVERS=" + strings.Join(s.robotNums, ","),
		"CTO_IMAGE_FACTORY_URL=" + s.factorySrv.URL,
		"CTO_CHART_MIRROR=" + s.mirrorSrv.URL,
		"CTO_LICENSE=" + s.license,
		"CTO_SIMULATED_SPEED=" + strconv.FormatFloat(s.opts.Speed, 'f', -1, 64),
		"CTO_SIM_KUBECONFIG=" + s.kube.Kubeconfig,
		"CTO_SIM_STATE_URL=" + s.stateSrv.URL + "/_fake/state",
		"CTO_ACME_SERVER=" + s.acmeSrv.URL + "/directory",
	}
	return append(env, s.dns.Env()...)
}

// UserEnv is the whole environment of a user whose home folder is home,
// running cto against the datacenter: PATH, HOME, CTO_HOME and KUBECONFIG
// inside home, a dumb terminal, then Env.
func (s *Sim) UserEnv(home string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "CTO_HOME=" + filepath.Join(home, ".cto"),
		"KUBECONFIG=" + filepath.Join(home, ".kube", "config"), "TERM=dumb"}
	return append(env, s.Env()...)
}

// Close stops every part the datacenter started. It is safe to call twice.
func (s *Sim) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	nodes, lbs := s.nodes, s.lbs
	s.nodes, s.lbs = map[string]*simNode{}, map[string]*apiProxy{}
	s.mu.Unlock()
	for _, lb := range lbs {
		lb.close()
	}
	if s.stopPlay != nil {
		s.stopPlay()
		<-s.playDone
	}
	if s.stopControllers != nil {
		s.stopControllers()
	}
	for _, n := range nodes {
		n.stop()
	}
	for _, srv := range []*httptest.Server{s.acmeSrv, s.stateSrv, s.latSrv, s.hcloudSrv, s.vultrSrv, s.robotSrv, s.factorySrv, s.mirrorSrv} {
		if srv != nil {
			srv.Close()
		}
	}
	if s.dns != nil {
		s.dns.Close()
	}
	if s.robot != nil {
		s.robot.Close()
	}
	s.mu.Lock()
	rescues := s.hcRescue
	s.hcRescue = nil
	s.mu.Unlock()
	for _, r := range rescues {
		r.Close()
	}
	if s.mirrorDir != "" {
		os.RemoveAll(s.mirrorDir)
	}
	if s.robotKey != "" {
		os.RemoveAll(filepath.Dir(s.robotKey))
	}
	if s.ownKube {
		s.kube.Stop()
	}
}

// Latitude is the Latitude.sh double (state, faults, stock).
func (s *Sim) Latitude() *latfake.Fake { return s.latitude }

// Hetzner is the Hetzner Cloud double.
func (s *Sim) Hetzner() *hcfake.Fake { return s.hcloud }

// Robot is the Hetzner Robot double.
func (s *Sim) Robot() *robotfake.Fake { return s.robot }

// RobotServers are the numbers of the dedicated servers the Robot account
// rents, for --servers.
func (s *Sim) RobotServers() []string { return append([]string(nil), s.robotNums...) }

// Vultr is the Vultr double.
func (s *Sim) Vultr() *vultrfake.API { return s.vultr }

// Etcd is the etcd of the datacenter's control planes: its members, and
// whether it ever lost quorum.
func (s *Sim) Etcd() *talosfake.Etcd { return s.etcd }

// Factory is the Talos Image Factory double.
func (s *Sim) Factory() *talosfake.Factory { return s.factory }

// DNS is the Cloudflare double.
func (s *Sim) DNS() *cffake.Server { return s.dns }

// Kube is the simulated cluster's API server.
func (s *Sim) Kube() *kubeenv.Env { return s.kube }

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

// LoseNode stops the Talos node of a server as a machine that dies would:
// its Talos API and its Kubernetes API port stop answering. It reports
// whether such a node ran.
func (s *Sim) LoseNode(hostname string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ip, n := range s.nodes {
		if n.node.Name == hostname {
			n.stop()
			s.history = append(s.history, n.state(false))
			delete(s.nodes, ip)
			return true
		}
	}
	return false
}

// NodeState is one Talos node as State reports it.
type NodeState struct {
	Hostname       string `json:"hostname"`
	ServerID       string `json:"server_id"`
	IP             string `json:"ip"`
	Role           string `json:"role,omitempty"` // controlplane or worker once configured
	Configured     bool   `json:"configured"`
	Bootstrapped   bool   `json:"bootstrapped"`
	APIServerUp    bool   `json:"api_server_up"` // its API server answers (BootstrapTime after Bootstrap)
	ApplyCalls     int    `json:"apply_calls"`
	BootstrapCalls int    `json:"bootstrap_calls"`
	// KubeconfigCalls counts Kubeconfig calls, failed ones included.
	KubeconfigCalls int  `json:"kubeconfig_calls"`
	Running         bool `json:"running"` // false: its server was deleted or reinstalled
	// TalosVersion is the Talos version the node runs; KubeletVersion the
	// tag of its config's kubelet image ("" before it has a config).
	TalosVersion   string `json:"talos_version"`
	KubeletVersion string `json:"kubelet_version,omitempty"`
	// Rebooting: the node is down for a reboot (an upgrade, a reset, a
	// config applied with a reboot); Halted: a reset powered it off.
	Rebooting bool `json:"rebooting,omitempty"`
	Halted    bool `json:"halted,omitempty"`
}

// State is the whole datacenter, as GET /_fake/state of CTO_SIM_STATE_URL
// answers it.
type State struct {
	Latitude latfake.State `json:"latitude"`
	// LatitudeFired counts the Latitude faults the double applied.
	LatitudeFired latfake.Fired   `json:"latitude_fired"`
	Hetzner       hcfake.State    `json:"hetzner"`
	Vultr         vultrfake.State `json:"vultr"`
	Robot         robotfake.State `json:"hetzner_robot"`
	Nodes         []NodeState     `json:"nodes"`
	// Bootstraps is how many nodes ever started etcd (1 for a healthy
	// cluster, whatever the number of runs).
	Bootstraps int `json:"bootstraps"`
	// BootstrapCalls is how many Bootstrap calls every node got in all,
	// failed ones included: 1 for a cluster bootstrapped exactly once.
	BootstrapCalls int `json:"bootstrap_calls"`
	// KubeconfigCalls is how many Kubeconfig calls every node got in all.
	KubeconfigCalls int `json:"kubeconfig_calls"`
	// DeletedServers are the Latitude servers the double deleted, in
	// order: servers replaced during a deploy, then destroy's.
	DeletedServers []latfake.ServerState `json:"deleted_servers"`
	Schematics     int                   `json:"schematic_posts"`
	DNSCalls       map[string]int        `json:"dns_requests"`
	DNSRecords     []cffake.Record       `json:"dns_records"`
}

// State snapshots every fake.
func (s *Sim) State() State {
	st := State{Latitude: s.latitude.State(), Hetzner: s.hcloud.Snapshot(), Vultr: s.vultr.State(), Robot: s.robot.Snapshot(), Schematics: s.factory.Posts(), DNSCalls: s.dns.Calls(), DNSRecords: s.dns.Records(s.opts.Zone)}
	st.LatitudeFired = s.latitude.Fired()
	st.Nodes = s.Nodes()
	for _, n := range st.Nodes {
		if n.Bootstrapped {
			st.Bootstraps++
		}
		st.BootstrapCalls += n.BootstrapCalls
		st.KubeconfigCalls += n.KubeconfigCalls
	}
	s.mu.Lock()
	st.DeletedServers = append([]latfake.ServerState(nil), s.deletedServers...)
	s.mu.Unlock()
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
	st := NodeState{Hostname: n.node.Name, ServerID: n.serverID, IP: n.ip, Bootstrapped: n.node.Bootstrapped(), APIServerUp: n.node.APIServerUp(),
		ApplyCalls: n.node.ApplyCalls(), BootstrapCalls: n.node.BootstrapCalls(), KubeconfigCalls: n.node.KubeconfigCalls(), Running: running,
		TalosVersion: n.node.RunningVersion(), KubeletVersion: n.node.KubeletVersion(), Rebooting: n.node.Rebooting(), Halted: n.node.Halted()}
	if cfg := n.node.Config(); cfg != nil {
		st.Configured = true
		st.Role = cfg.Machine().Type().String()
	}
	return st
}

// serverDeployed boots a server that reached "on": when its iPXE started
// the factory's Talos and Talos has the server's address (boot.go), a
// Talos node in maintenance mode comes up on that address.
func (s *Sim) serverDeployed(srv latfake.ServerState) {
	b, err := s.bootTarget(srv.Booted)
	if err != nil {
		s.logf("server %s (%s) booted no Talos (%v): no node; its iPXE ran %q", srv.Hostname, srv.IP, err, srv.Booted)
		return
	}
	dhcp := !s.opts.LatitudeNoDHCP
	cmdline, err := nodeAddress(b.Args, srv.IP, dhcp)
	if err != nil {
		s.logf("server %s (%s) booted Talos without its address (%v): no node answers on %s", srv.Hostname, srv.IP, err, srv.IP)
		return
	}
	var hw hardware
	for _, p := range latfake.Catalogue() {
		if p.Slug == srv.Plan {
			hw = hardware{cores: p.Cores, memoryGiB: p.MemoryGB}
		}
	}
	s.bootTalos(srv.Hostname, srv.ID, srv.IP, b.Version, hw, disks(srv.Plan, srv.IP), latitudeLinks(srv.ID, srv.IP, dhcp, cmdline))
}

// bootTalos starts a Talos node of version in maintenance mode on a
// server's address, in place of whatever ran there before.
func (s *Sim) bootTalos(hostname, serverID, ip, version string, hw hardware, disks []*storage.Disk, links func() []talosfake.Link) {
	faults := s.opts.Talos
	if f, ok := s.opts.TalosFor[hostname]; ok {
		faults = f
	}
	// The kubeconfig a node hands out names the cluster's endpoint, as
	// Talos's does: a control plane's address (served by apiProxy), a
	// load balancer's or a DNS name.
	n := &talosfake.Node{Name: hostname, Disks: disks, KubeconfigToken: s.kube.Token, Faults: faults, PullsInstaller: true,
		Version: version, Trustd: s.trustd, Etcd: s.etcd, InstallTime: s.opts.InstallTime, BootstrapTime: s.opts.BootstrapTime, Clock: s.clock, Links: links}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if old := s.nodes[ip]; old != nil {
		// A reinstall boots the server afresh.
		old.stop()
		s.history = append(s.history, old.state(false))
		delete(s.nodes, ip)
	}
	addr := net.JoinHostPort(ip, strconv.Itoa(talos.APIPort))
	var err error
	for range 50 {
		if err = n.Start(addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond) // the old node's port is closing
	}
	if err != nil {
		s.logf("server %s: the Talos node cannot listen on %s: %v", hostname, addr, err)
		return
	}
	api, err := s.startAPIProxy(ip, n)
	if err != nil {
		n.Stop()
		s.logf("server %s: cannot serve the Kubernetes API on %s: %v", hostname, ip, err)
		return
	}
	s.nodes[ip] = &simNode{node: n, api: api, serverID: serverID, ip: ip, hw: hw, booted: s.clock.Now()}
	s.logf("server %s is on: Talos maintenance mode at %s", hostname, addr)
}

// serverDeleted powers a deleted server's node off.
func (s *Sim) serverDeleted(srv latfake.ServerState) {
	s.mu.Lock()
	s.deletedServers = append(s.deletedServers, srv)
	s.mu.Unlock()
	s.powerOff(srv.Hostname, srv.ID, srv.IP, true)
}

// powerOff stops the Talos node of a server that stopped or went away;
// a deleted server's Kubernetes node goes too.
func (s *Sim) powerOff(hostname, serverID, ip string, deleted bool) {
	s.mu.Lock()
	n := s.nodes[ip]
	if n != nil && n.serverID == serverID {
		delete(s.nodes, ip)
		s.history = append(s.history, n.state(false))
	} else {
		n = nil
	}
	s.mu.Unlock()
	if n == nil {
		return
	}
	n.stop()
	if deleted {
		s.deleteKubeNode(hostname)
		s.logf("server %s deleted: its node is gone", hostname)
	} else {
		s.logf("server %s stopped: its node is down", hostname)
	}
}

// hcloudBooted starts a Talos node when a Hetzner Cloud server boots the
// public Talos ISO or a Talos snapshot cto built.
func (s *Sim) hcloudBooted(b hcfake.Booted) {
	iso, isISO := strings.CutPrefix(b.What, "iso:")
	snapshot := strings.HasPrefix(b.What, "image:") && b.Image != nil && b.Image.Type == "snapshot" && b.Image.Labels["cto.image"] == "talos"
	if !(isISO && strings.Contains(strings.ToLower(iso), "talos")) && !snapshot {
		s.logf("server %s (%s) booted %s, not Talos: no node", b.Name, b.IP, b.What)
		return
	}
	id := strconv.FormatInt(b.ID, 10)
	cores, mem, _ := s.hcloud.ServerTypeSpec(b.Type)
	s.bootTalos(b.Name, id, b.IP, isoVersion(iso), hardware{cores: cores, memoryGiB: int(mem)}, driveDisks(b.IP, []provider.Drive{{Count: 1, SizeGB: float64(b.DiskGB), Type: "SSD"}}), s.hcloudLinks(b.ID, b.IP))
}

func (s *Sim) hcloudStopped(b hcfake.Booted) {
	s.powerOff(b.Name, strconv.FormatInt(b.ID, 10), b.IP, b.Deleted)
}

// vultrActive starts a Talos node when a Vultr bare metal that chain-loads
// the factory's PXE image finishes deploying.
func (s *Sim) vultrActive(b vultrfake.BareMetal) {
	// The Vultr double models no account without DHCP (cto's Vultr
	// provider says its servers have DHCP): the target alone decides.
	target, err := s.bootTarget(b.IPXEChainURL)
	if err != nil {
		s.logf("server %s (%s) booted no Talos (%v): no node; its iPXE ran %q", b.Label, b.MainIP, err, b.IPXEChainURL)
		return
	}
	var drives []provider.Drive
	var hw hardware
	for _, p := range s.vultr.Plans() {
		if p.ID == b.Plan {
			drives = []provider.Drive{{Count: p.DiskCount, SizeGB: float64(p.Disk), Type: p.Type}}
			hw = hardware{cores: p.CPUCount, memoryGiB: p.RAM / 1024}
		}
	}
	s.bootTalos(cmpOr(b.Hostname, b.Label), b.ID, b.MainIP, target.Version, hw, driveDisks(b.MainIP, drives), s.vultrLinks(b))
}

func (s *Sim) vultrDeleted(b vultrfake.BareMetal) {
	s.powerOff(cmpOr(b.Hostname, b.Label), b.ID, b.MainIP, true)
}

// startRobot starts the Robot double with n rented servers from .200 of
// the block, an SSH key its account knows (for the rescue systems) and
// one port every rescue system's SSH server listens on at its server's IP.
func (s *Sim) startRobot(n int) error {
	if n <= 0 {
		n = 3
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(s.block+"200", "0"))
	if err != nil {
		return err
	}
	s.rescuePort = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s.hcRescue = map[int64]*rescuefake.Server{}
	s.hcloud.SetRescueHost(hcloudRescue{s})
	s.robot = robotfake.NewWithOptions(robotfake.Options{Clock: s.clock, IPBase: s.block + "200", RescuePort: s.rescuePort,
		OnBooted: s.robotBooted, OnStopped: s.robotStopped})
	s.robotSrv = httptest.NewServer(s.robot)

	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	block, err := ssh.MarshalPrivateKey(priv, "cto simulated datacenter")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "cto-sim-robot-")
	if err != nil {
		return err
	}
	s.robotKey = filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(s.robotKey, pem.EncodeToMemory(block), 0o600); err != nil {
		return err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return err
	}
	s.robot.AddKey(sshPub)
	for range n {
		s.robotNums = append(s.robotNums, strconv.Itoa(s.robot.AddServer("AX42", "FSN1-DC14")))
	}
	return nil
}

// hcloudRescue plays the rescue systems of Hetzner Cloud servers: SSH
// with the one-time root password on the server's address, one disk.
type hcloudRescue struct{ s *Sim }

func (h hcloudRescue) RescueBooted(id int64, ip, password string) {
	// Called under the double's lock: nothing here may ask it anything.
	s := h.s
	m := rescuefake.NewMachine([]rescue.Disk{{Name: "sda", SizeBytes: 40 << 30, Type: "disk", Model: "QEMU HARDDISK", Rotational: true}})
	srv, err := rescuefake.StartAt(net.JoinHostPort(ip, strconv.Itoa(s.rescuePort)), m,
		func(user, pw string, _ ssh.PublicKey) bool { return user == "root" && pw == password }, nil)
	if err != nil {
		s.logf("server %d: the rescue system cannot listen on %s: %v", id, ip, err)
		return
	}
	s.mu.Lock()
	if s.hcRescue == nil { // closed
		s.mu.Unlock()
		srv.Close()
		return
	}
	old := s.hcRescue[id]
	s.hcRescue[id] = srv
	s.mu.Unlock()
	if old != nil {
		old.Close()
	}
	s.logf("server %d is in the rescue system: SSH at %s", id, srv.Addr())
}

func (h hcloudRescue) RescueLeft(id int64) {
	s := h.s
	s.mu.Lock()
	srv := s.hcRescue[id]
	delete(s.hcRescue, id)
	s.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// robotBooted starts a Talos node on a dedicated server that came up from
// the Talos image its rescue system wrote.
func (s *Sim) robotBooted(srv robotfake.Server) {
	var disks []*storage.Disk
	for i, d := range robotfake.DefaultDisks {
		disk := &storage.Disk{DeviceName: "/dev/" + d.Name, Size: uint64(d.SizeBytes), Model: d.Model,
			Serial: cmpOr(d.Serial, fmt.Sprintf("%s-%d", d.Model, i)) + "-" + srv.IP, Type: storage.Disk_SSD}
		switch {
		case d.Transport == "nvme":
			disk.Type = storage.Disk_NVME
		case d.Rotational:
			disk.Type = storage.Disk_HDD
		}
		disks = append(disks, disk)
	}
	// The account rents AX42s: 8 cores, 64 GB (Hetzner's product page).
	s.bootTalos(robotHostname(srv.Name), strconv.Itoa(srv.Number), srv.IP, "", hardware{cores: 8, memoryGiB: 64}, disks, robotLinks(srv.Number, srv.IP))
}

// robotStopped stops the node of a dedicated server reset away from Talos.
func (s *Sim) robotStopped(srv robotfake.Server) {
	s.powerOff(robotHostname(srv.Name), strconv.Itoa(srv.Number), srv.IP, false)
}

// robotHostname is the hostname in a Robot server's cto tag
// (cto:<cluster>:<role>:<hostname>[:<state>]), or the name itself.
func robotHostname(name string) string {
	if parts := strings.Split(name, ":"); len(parts) >= 4 && parts[0] == "cto" {
		return parts[3]
	}
	return name
}

// isoVersion is the Talos version in a public Talos ISO's name
// (talos-v1.13.9-amd64.iso), "" for another image (a snapshot cto built:
// the default version).
func isoVersion(iso string) string {
	for _, f := range strings.Split(iso, "-") {
		if strings.HasPrefix(f, "v") && strings.Count(f, ".") == 2 {
			return f
		}
	}
	return ""
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// disks are a Latitude server's drives as its plan lists them.
func disks(plan, ip string) []*storage.Disk {
	var drives []provider.Drive
	for _, p := range latfake.Catalogue() {
		if p.Slug != plan {
			continue
		}
		for _, d := range p.Drives {
			drives = append(drives, provider.Drive{Count: d.Count, SizeGB: float64(driveBytes(d.Size)) / 1e9, Type: d.Type})
		}
	}
	return driveDisks(ip, drives)
}

// driveDisks are a server's drives behind a CD drive, with serials unique
// to the server (a 480 GB SSD when the plan lists none).
func driveDisks(ip string, drives []provider.Drive) []*storage.Disk {
	out := []*storage.Disk{{DeviceName: "/dev/sr0", Type: storage.Disk_CD, Size: 1e9, Serial: "CDROM"}}
	nvme, sd := 0, 0
	for _, d := range drives {
		for i := range d.Count {
			disk := &storage.Disk{Size: uint64(d.SizeGB * 1e9), Serial: fmt.Sprintf("%s-%d-%s", d.Type, i, ip)}
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
	return fmt.Sprintf("simulated datacenter: Latitude %s, Hetzner Cloud %s, Vultr %s, nodes %s*, %s",
		s.latSrv.URL, s.hcloudSrv.URL, s.vultrSrv.URL, s.block, s.kube)
}

// acmeDirectory answers as an ACME server's directory does (RFC 8555
// section 7.1.1), so cert-manager's ACME issuer finds one; nothing behind
// it signs.
func acmeDirectory(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/directory" {
		http.NotFound(w, r)
		return
	}
	base := "http://" + r.Host
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{
		"newNonce": base + "/new-nonce", "newAccount": base + "/new-account", "newOrder": base + "/new-order",
		"revokeCert": base + "/revoke-cert", "keyChange": base + "/key-change",
	})
}
