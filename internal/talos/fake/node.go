package fake

import (
	"archive/tar"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	cosiapi "github.com/cosi-project/runtime/api/v1alpha1"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	sx509 "github.com/siderolabs/crypto/x509"
	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/api/storage"
	coreconfig "github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	"github.com/siderolabs/talos/pkg/machinery/config/types/network"
	"github.com/siderolabs/talos/pkg/machinery/nethelpers"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/cto-platform/cto/internal/talos"
)

// Faults make a node misbehave the ways real ones do.
type Faults struct {
	// ApplyHangs: ApplyConfiguration takes the config, then never answers
	// (the node reconfigured its network under the connection).
	ApplyHangs bool
	// BootstrapFailures: the first K Bootstrap calls fail with
	// FailedPrecondition (time not in sync yet).
	BootstrapFailures int
	// StayInMaintenance: the node accepts configs but never leaves
	// maintenance mode.
	StayInMaintenance bool
	// KubeconfigFailures: the first K Kubeconfig calls fail with
	// Unavailable (the API server's certificates are not ready yet).
	KubeconfigFailures int
	// NeverBoots: Talos never comes up on the server (a boot loop, a
	// console waiting for a key): nothing listens on its address.
	NeverBoots bool
	// ForeignConfig is a machine config someone else applied before cto
	// got to the node: it starts configured with it.
	ForeignConfig []byte
	// UpgradeBootFails: the Talos an upgrade installs does not boot; the
	// bootloader falls back to the previous one (Talos's A/B boot), so
	// the node comes back on its old version after the reboot.
	UpgradeBootFails bool
}

// Node is a fake Talos node: in maintenance mode it serves TLS with a
// self-signed certificate and takes a config; once configured it serves
// mutual TLS with a certificate from the config's OS CA and requires
// client certificates from that CA, like apid.
type Node struct {
	Name  string
	Disks []*storage.Disk
	// KubeconfigServer is the server URL of the kubeconfig it hands out.
	KubeconfigServer string
	// Kubeconfig, when set, is handed out as it is (e.g. the admin
	// kubeconfig of a real test kube-apiserver).
	Kubeconfig []byte
	// KubeconfigToken is the bearer token of the kubeconfig it generates
	// (default fake-admin-token).
	KubeconfigToken string
	Faults          Faults
	// Version is the Talos version the node booted (default
	// talos.DefaultTalosVersion); an upgrade changes what it runs
	// (RunningVersion).
	Version string
	// Etcd, shared by the control planes of one simulated datacenter,
	// holds their etcd members (nil: the node keeps one of its own).
	Etcd *Etcd
	// Trustd, shared by the nodes of one simulated datacenter, hands
	// workers the certificate a configured control plane's CA signs.
	Trustd *Trustd
	// TrustdCA is the OS CA to sign a worker's certificate with when no
	// Trustd is shared (workers' configs carry only the CA certificate).
	TrustdCA *sx509.PEMEncodedCertificateAndKey
	// InstallTime is how long the node installs Talos and reboots after
	// taking its config: its API does not answer meanwhile. Every later
	// reboot (an upgrade, a reset, a config applied with a reboot) takes
	// as long. BootstrapTime
	// is how long etcd and the API server take to start after Bootstrap:
	// EtcdMemberList answers Unavailable and APIServerUp is false
	// meanwhile, while Kubeconfig answers at once, as on real Talos (it is
	// generated from the config). Both run on Clock (default the wall
	// clock); zero means at once.
	InstallTime   time.Duration
	BootstrapTime time.Duration
	Clock         interface{ Now() time.Time }
	// Links are the server's NICs as its provider reports them, asked for
	// when a config is applied (a cloud server's private NIC appears when
	// it joins a network). Nil: one NIC that gets the node's address by
	// DHCP.
	Links func() []Link
	// PullsInstaller: after taking a config the node pulls its install
	// image (machine.install.image) from the image's registry before
	// installing, over plain HTTP as the doubles serve on loopback; a
	// failed pull fails the install. False skips the pull (tests without
	// an Image Factory).
	PullsInstaller bool
	// TrustdRetryUnit is the unit of a worker's trustd retry schedule
	// (Talos: one second, see trustdAttempts); wall-clock tests shrink it.
	TrustdRetryUnit time.Duration

	// sock is the node's listening socket, open only while apid runs.
	sockMu  sync.Mutex
	sock    net.Listener
	gate    *gate
	polling bool
	stopped bool

	mu              sync.Mutex
	addr            string
	ip              net.IP
	selfSigned      tls.Certificate
	configured      *tls.Config
	config          coreconfig.Provider
	applyCalls      int
	bootstrapCalls  int
	kubeconfigCalls int
	bootstrapped    bool
	appliedAt       time.Time
	bootstrappedAt  time.Time
	network         Network
	installProblem  string
	apidWaits       string
	srv             *grpc.Server

	// Day-2 state (day2.go).
	running       string    // the Talos version it runs
	off           bool      // Stop: the machine is gone
	halted        bool      // a reset without reboot powered it off
	downUntil     time.Time // rebooting until then
	boot          afterBoot // what the reboot brings
	etcdOut       etcdOut
	upgradeCalls  int
	upgradeImages []string
	pulls         []ImagePull // what the image service pulled
	resetCalls    int
	resetProblem  string
	applied       []AppliedConfig
	staged        coreconfig.Provider
	tryUntil      time.Time
	tryPrevious   coreconfig.Provider
	ownEtcd       *Etcd
}

func (n *Node) now() time.Time {
	if n.Clock != nil {
		return n.Clock.Now()
	}
	return time.Now()
}

// Start serves the node on addr ("127.x.y.z:0" picks a port).
func (n *Node) Start(addr string) error {
	n.mu.Lock()
	n.running = cmp.Or(n.running, n.Version, talos.DefaultTalosVersion)
	n.mu.Unlock()
	f := n.faults()
	if f.NeverBoots {
		n.addr = addr
		return nil
	}
	if len(f.ForeignConfig) > 0 {
		cfg, err := configloader.NewFromBytes(f.ForeignConfig)
		if err != nil {
			return fmt.Errorf("foreign config: %w", err)
		}
		n.mu.Lock()
		n.config = cfg
		n.mu.Unlock()
		n.joinEtcd(cfg)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	n.addr = lis.Addr().String()
	n.ip = lis.Addr().(*net.TCPAddr).IP
	n.gate = &gate{addr: lis.Addr(), conns: make(chan net.Conn), done: make(chan struct{})}
	n.sock = lis
	go n.gate.feed(lis)
	ca, err := sx509.NewSelfSignedCertificateAuthority(sx509.Organization("maintenance"), sx509.IPAddresses([]net.IP{n.ip}))
	if err != nil {
		lis.Close()
		return err
	}
	n.selfSigned, err = tls.X509KeyPair(ca.CrtPEM, ca.KeyPEM)
	if err != nil {
		lis.Close()
		return err
	}
	base := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return n.tlsConfig() },
	}
	n.srv = grpc.NewServer(grpc.Creds(credentials.NewTLS(base)), grpc.UnaryInterceptor(n.refuseWhileDown), grpc.StreamInterceptor(n.refuseStreamWhileDown))
	machine.RegisterMachineServiceServer(n.srv, &machineServer{n: n})
	storage.RegisterStorageServiceServer(n.srv, &storageServer{n: n})
	machine.RegisterImageServiceServer(n.srv, &imageServer{n: n})
	cosiapi.RegisterStateServer(n.srv, &stateServer{n: n})
	go n.srv.Serve(n.gate)
	if n.Trustd != nil {
		n.Trustd.watch(n.wake)
	}
	n.wake()
	return nil
}

// Addr is the node's ip:port.
func (n *Node) Addr() string { return n.addr }

// Stop ends serving.
func (n *Node) Stop() {
	n.mu.Lock()
	n.off = true
	n.mu.Unlock()
	n.etcd().down(n, "stopped")
	n.sockMu.Lock()
	n.stopped = true
	if n.sock != nil {
		n.sock.Close()
		n.sock = nil
	}
	n.sockMu.Unlock()
	if n.srv != nil {
		n.srv.Stop()
	}
}

// gate is the listener the gRPC server serves: connections come from
// whichever socket is open, so the node can stop listening (connections
// refused) and listen again without restarting the server.
type gate struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (g *gate) Accept() (net.Conn, error) {
	select {
	case c := <-g.conns:
		return c, nil
	case <-g.done:
		return nil, net.ErrClosed
	}
}

func (g *gate) Close() error   { g.once.Do(func() { close(g.done) }); return nil }
func (g *gate) Addr() net.Addr { return g.addr }

// feed hands a socket's connections to the gate until the socket closes.
func (g *gate) feed(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		select {
		case g.conns <- c:
		case <-g.done:
			c.Close()
			return
		}
	}
}

// wake opens or closes the node's socket to match whether apid runs, and
// keeps checking while it does not: the node comes up on its own clock.
func (n *Node) wake() {
	if n.reconcile() {
		return
	}
	n.sockMu.Lock()
	defer n.sockMu.Unlock()
	if n.polling || n.stopped || n.gate == nil { // not started: Start wakes it
		return
	}
	n.polling = true
	go func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for range t.C {
			up := n.reconcile()
			n.sockMu.Lock()
			if up || n.stopped {
				n.polling = false
				n.sockMu.Unlock()
				return
			}
			n.sockMu.Unlock()
		}
	}()
}

// reconcile listens while apid runs and closes the socket while it does
// not; it reports whether apid runs.
func (n *Node) reconcile() bool {
	up := n.apidUp()
	n.sockMu.Lock()
	defer n.sockMu.Unlock()
	switch {
	case n.stopped || n.gate == nil:
	case up && n.sock == nil:
		l, err := net.Listen("tcp", n.addr)
		if err != nil {
			return false // the old socket's port is still closing: next time
		}
		n.sock = l
		go n.gate.feed(l)
	case !up && n.sock != nil:
		n.sock.Close()
		n.sock = nil
	}
	return up
}

// apidUp says whether apid listens, as on real Talos: in maintenance mode
// it does; after a config is applied the node installs and reboots
// (InstallTime) with nothing listening; then apid starts only once its
// serving certificate exists (machined services/apid.go: its Condition
// waits for secrets.NewAPIReadyCondition). A control plane signs it with
// the OS CA key in its config; a worker has no key and asks the control
// planes' trustd for it (controllers/secrets/api.go, generateWorker), so
// a worker's API port refuses connections until a control plane's trustd
// is up and admits it.
func (n *Node) apidUp() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	if !n.upLocked(now) {
		return false
	}
	if n.config == nil {
		return true
	}
	booted := n.appliedAt.Add(n.InstallTime)
	if now.Before(booted) {
		return false
	}
	if n.configured != nil {
		return true
	}
	cfg, err := n.serveConfigured(n.config, booted, now)
	if err != nil {
		n.apidWaits = err.Error()
		return false
	}
	n.configured, n.apidWaits = cfg, ""
	return true
}

// ApidWaits is why a configured node's apid does not run yet, "" when it
// runs or the node is in maintenance mode.
func (n *Node) ApidWaits() string { n.mu.Lock(); defer n.mu.Unlock(); return n.apidWaits }

// tlsConfig is the node's TLS side: self-signed in maintenance mode,
// mutual TLS from the OS CA once configured.
func (n *Node) tlsConfig() (*tls.Config, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.config == nil {
		return &tls.Config{Certificates: []tls.Certificate{n.selfSigned}, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12}, nil
	}
	if n.network.PublicLost {
		return nil, errors.New("the config left the public link without its address: nothing answers on it")
	}
	if n.configured == nil {
		return nil, errors.New("apid is not up yet")
	}
	return n.configured, nil
}

// SetFaults changes the node's faults while it runs.
func (n *Node) SetFaults(f Faults) { n.mu.Lock(); defer n.mu.Unlock(); n.Faults = f }

func (n *Node) faults() Faults { n.mu.Lock(); defer n.mu.Unlock(); return n.Faults }

// Reset wipes the node back to maintenance mode, as reinstalling its
// server would.
func (n *Node) Reset() {
	n.mu.Lock()
	n.config, n.configured, n.bootstrapped, n.network = nil, nil, false, Network{}
	n.Faults.ForeignConfig = nil
	n.halted, n.downUntil, n.boot, n.etcdOut, n.staged, n.tryUntil = false, time.Time{}, afterBoot{}, etcdIn, nil, time.Time{}
	n.mu.Unlock()
	n.etcd().down(n, "reinstalled")
	n.wake()
}

// ApplyCalls counts ApplyConfiguration calls.
func (n *Node) ApplyCalls() int { n.mu.Lock(); defer n.mu.Unlock(); return n.applyCalls }

// KubeconfigCalls counts Kubeconfig calls.
func (n *Node) KubeconfigCalls() int { n.mu.Lock(); defer n.mu.Unlock(); return n.kubeconfigCalls }

// BootstrapCalls counts Bootstrap calls.
func (n *Node) BootstrapCalls() int { n.mu.Lock(); defer n.mu.Unlock(); return n.bootstrapCalls }

// Bootstrapped reports whether Bootstrap started etcd on this node.
func (n *Node) Bootstrapped() bool { n.mu.Lock(); defer n.mu.Unlock(); return n.bootstrapped }

// Config returns the applied config, nil in maintenance mode.
func (n *Node) Config() coreconfig.Provider { n.mu.Lock(); defer n.mu.Unlock(); return n.config }

// Configure puts the node into configured mode with a config, as if it had
// been applied (by cto or anyone else).
func (n *Node) Configure(cfg coreconfig.Provider) error {
	ca := cfg.Machine().Security().IssuingCA()
	if ca == nil || len(ca.Crt) == 0 {
		return errors.New("the config carries no OS CA")
	}
	if len(ca.Key) > 0 && n.Trustd != nil {
		// trustd serves once the control plane rebooted into its config.
		n.Trustd.register(ca, trustdAdmits(cfg), n.now().Add(n.InstallTime))
	}
	links := defaultLinks(n.ip)
	if n.Links != nil {
		links = n.Links()
	}
	ip, _ := netip.AddrFromSlice(n.ip)
	nw := evaluateNetwork(cfg, links, ip.Unmap())
	n.mu.Lock()
	n.config = cfg
	n.configured = nil
	n.appliedAt = n.now()
	n.network = nw
	n.mu.Unlock()
	n.joinEtcd(cfg)
	// The node reboots into its config: nothing listens until apid runs.
	n.wake()
	return nil
}

// InstallProblem is why the last install failed, "" when none did.
func (n *Node) InstallProblem() string { n.mu.Lock(); defer n.mu.Unlock(); return n.installProblem }

// installDiskProblem checks the config's install disk against the node's
// disks as the installer would: the selector's serial and WWID (or the
// device path) must match a disk. Nodes without a disk list skip it.
func installDiskProblem(cfg coreconfig.Provider, disks []*storage.Disk) string {
	if len(disks) == 0 || cfg.RawV1Alpha1() == nil || cfg.RawV1Alpha1().MachineConfig == nil || cfg.RawV1Alpha1().MachineConfig.MachineInstall == nil {
		return ""
	}
	inst := cfg.RawV1Alpha1().MachineConfig.MachineInstall
	for _, d := range disks {
		switch sel := inst.InstallDiskSelector; {
		case sel != nil:
			if (sel.Serial == "" || sel.Serial == d.Serial) && (sel.WWID == "" || sel.WWID == d.Wwid) && (sel.Serial != "" || sel.WWID != "") {
				return ""
			}
		case inst.InstallDisk != "" && inst.InstallDisk == d.DeviceName:
			return ""
		}
	}
	return "install: no disk matches the install disk selector"
}

// pullInstaller pulls an install image's manifest from its registry, as
// Talos's install does before it runs the installer (internal/pkg/install
// install.go, RunInstallerContainer: image.PullWithRetriesAndTimeout of
// machine.install.image), and says why it failed, "" when it did not.
// The reference is host[:port]/name:tag; the registry speaks the OCI
// distribution API (GET /v2/<name>/manifests/<tag>).
func pullInstaller(ctx context.Context, image string) string {
	host, rest, ok := strings.Cut(image, "/")
	i := strings.LastIndex(rest, ":")
	if !ok || i <= 0 || i == len(rest)-1 {
		return fmt.Sprintf("install: pull %s: not an image reference host/name:tag", image)
	}
	name, tag := rest[:i], rest[i+1:]
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/v2/"+name+"/manifests/"+tag, nil)
	if err != nil {
		return fmt.Sprintf("install: pull %s: %v", image, err)
	}
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Sprintf("install: pull %s: %v", image, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return fmt.Sprintf("install: pull %s: %s: %s", image, resp.Status, strings.TrimSpace(string(body)))
	}
	return ""
}

// APIServerUp reports whether the API server of this bootstrapped node
// answers: BootstrapTime after Bootstrap, and only with etcd running.
func (n *Node) APIServerUp() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	return n.bootstrapped && n.upLocked(now) && n.network.EtcdProblem == "" && !now.Before(n.bootstrappedAt.Add(n.BootstrapTime))
}

// Network is what the node made of its config's network documents.
func (n *Node) Network() Network { n.mu.Lock(); defer n.mu.Unlock(); return n.network }

// serveConfigured builds the mutual-TLS side from the config's OS CA: a
// control plane has its key; a worker, booted into its config at booted,
// gets its certificate from trustd by now.
func (n *Node) serveConfigured(cfg coreconfig.Provider, booted, now time.Time) (*tls.Config, error) {
	ca := cfg.Machine().Security().IssuingCA()
	if len(ca.Key) == 0 {
		switch {
		case n.TrustdCA != nil && bytes.Equal(n.TrustdCA.Crt, ca.Crt):
			ca = n.TrustdCA
		case n.Trustd != nil:
			if ca = n.Trustd.lookup(ca.Crt, n.ip, booted, now, cmp.Or(n.TrustdRetryUnit, time.Second)); ca == nil {
				return nil, fmt.Errorf("no certificate yet: no control plane of this cluster ran trustd that admits %s at the worker's last attempt", n.ip)
			}
		default:
			return nil, errors.New("no certificate yet: no trustd for this node")
		}
	}
	authority, err := sx509.NewCertificateAuthorityFromCertificateAndKey(ca)
	if err != nil {
		return nil, err
	}
	kp, err := sx509.NewKeyPair(authority, sx509.IPAddresses([]net.IP{n.ip}), sx509.CommonName(n.Name),
		sx509.ExtKeyUsage([]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}), sx509.NotAfter(time.Now().Add(24*time.Hour)))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca.Crt) {
		return nil, errors.New("bad OS CA certificate")
	}
	cert, err := tls.X509KeyPair(kp.CrtPEM, kp.KeyPEM)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		NextProtos:   []string{"h2"},
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// Trustd stands in for the control planes' trustd across fake nodes: a
// configured control plane registers its OS CA, what its firewall admits
// on trustd's port and when trustd starts serving, and workers of the
// same cluster get their serving certificates from it when that firewall
// lets their address in (a worker asks from its public address).
type Trustd struct {
	mu       sync.Mutex
	cas      map[string][]trustdServer
	watchers []func()
}

type trustdServer struct {
	ca     *sx509.PEMEncodedCertificateAndKey
	admits func(net.IP) bool
	upAt   time.Time
}

func (t *Trustd) register(ca *sx509.PEMEncodedCertificateAndKey, admits func(net.IP) bool, upAt time.Time) {
	t.mu.Lock()
	if t.cas == nil {
		t.cas = map[string][]trustdServer{}
	}
	t.cas[string(ca.Crt)] = append(t.cas[string(ca.Crt)], trustdServer{ca, admits, upAt})
	watchers := slices.Clone(t.watchers)
	t.mu.Unlock()
	for _, w := range watchers {
		w()
	}
}

// watch calls f whenever a control plane registers.
func (t *Trustd) watch(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.watchers = append(t.watchers, f)
}

// lookup finds the CA of a control plane whose trustd lets from in and
// served at one of the worker's attempts between booted and now.
func (t *Trustd) lookup(crt []byte, from net.IP, booted, now time.Time, unit time.Duration) *sx509.PEMEncodedCertificateAndKey {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.cas[string(crt)] {
		if !s.admits(from) {
			continue
		}
		if at, ok := trustdAttempt(booted, s.upAt, now, unit); ok && !at.After(now) {
			return s.ca
		}
	}
	return nil
}

// trustdAttempt is the first time at or after upAt (and not after now)
// that a worker booted at booted asks trustd for its certificate. Talos's
// worker asks through gen.RemoteGenerator.IdentityContext (pkg/grpc/gen/
// remote.go): go-retry's Exponential for one minute in units of a second,
// whose waits are ⌊(2^c-1)/2⌋ units for c = 1, 2, ... (0, 1, 3, 7, 15, 31
// s; siderolabs/go-retry exponential.go), so attempts at 0, 0, 1, 4, 11,
// 26 and 57 s. When the minute runs out the APIController fails and the
// controller runtime restarts it after cenkalti/backoff's exponential
// back-off (0.5 s, times 1.5 each time, at most 60 s; cosi-project runtime
// rruntime.go), and the minute starts again.
func trustdAttempt(booted, upAt, now time.Time, unit time.Duration) (time.Time, bool) {
	if booted.IsZero() { // configured before it started (a foreign config)
		return upAt, !upAt.After(now)
	}
	offsets := []time.Duration{0, 0, 1, 4, 11, 26, 57}
	restart := unit / 2
	start := booted
	for !start.After(now) {
		if period := 60*unit + restart; restart == 60*unit && upAt.Sub(start) > period {
			start = start.Add(upAt.Sub(start) / period * period) // whole cycles before trustd came up
		}
		for _, o := range offsets {
			at := start.Add(o * unit)
			if at.After(now) {
				return time.Time{}, false
			}
			if !at.Before(upAt) {
				return at, true
			}
		}
		start = start.Add(60*unit + restart)
		restart = min(restart*3/2, 60*unit)
	}
	return time.Time{}, false
}

// trustdAdmits reads a config's ingress firewall for trustd's TCP port:
// everyone without a default block, else the subnets of the rules that
// name the port.
func trustdAdmits(cfg coreconfig.Provider) func(net.IP) bool {
	block := false
	var from []netip.Prefix
	for _, d := range cfg.Documents() {
		switch d := d.(type) {
		case *network.DefaultActionConfigV1Alpha1:
			block = d.DefaultAction() == nethelpers.DefaultActionBlock
		case *network.RuleConfigV1Alpha1:
			if d.Protocol() != nethelpers.ProtocolTCP {
				continue
			}
			for _, r := range d.PortRanges() {
				if r[0] <= talos.TrustdPort && talos.TrustdPort <= r[1] {
					from = append(from, d.Subnets()...)
				}
			}
		}
	}
	return func(ip net.IP) bool {
		if !block {
			return true
		}
		a, ok := netip.AddrFromSlice(ip)
		return ok && slices.ContainsFunc(from, func(p netip.Prefix) bool { return p.Contains(a.Unmap()) })
	}
}

func (n *Node) isConfigured() bool { n.mu.Lock(); defer n.mu.Unlock(); return n.config != nil }

type machineServer struct {
	machine.UnimplementedMachineServiceServer
	n *Node
}

func (s *machineServer) ApplyConfiguration(ctx context.Context, req *machine.ApplyConfigurationRequest) (*machine.ApplyConfigurationResponse, error) {
	n := s.n
	n.mu.Lock()
	n.applyCalls++
	already := n.config != nil
	n.mu.Unlock()
	if already {
		if !clientCertified(ctx) {
			return nil, status.Error(codes.PermissionDenied, "node is configured; use mutual TLS")
		}
		return n.applyConfigured(ctx, req)
	}
	cfg, err := configloader.NewFromBytes(req.GetData())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "config does not parse: %v", err)
	}
	if _, err := cfg.Validate(metal{}); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "config is invalid: %v", err)
	}
	faults := n.faults()
	msg := installDiskProblem(cfg, n.Disks)
	if msg == "" && n.PullsInstaller {
		msg = pullInstaller(ctx, cfg.Machine().Install().Image())
	}
	if msg != "" {
		// The installer cannot be pulled or finds no disk: the node boots
		// maintenance mode again, as a real one whose install failed.
		n.mu.Lock()
		n.installProblem = msg
		n.mu.Unlock()
		faults.StayInMaintenance = true
	}
	if !faults.StayInMaintenance {
		if err := n.Configure(cfg); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
	}
	if faults.ApplyHangs {
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	return &machine.ApplyConfigurationResponse{Messages: []*machine.ApplyConfiguration{{Mode: machine.ApplyConfigurationRequest_REBOOT}}}, nil
}

func (s *machineServer) Version(ctx context.Context, _ *emptypb.Empty) (*machine.VersionResponse, error) {
	return &machine.VersionResponse{Messages: []*machine.Version{{
		Version:  &machine.VersionInfo{Tag: s.n.RunningVersion(), Os: "linux", Arch: "amd64"},
		Platform: &machine.PlatformInfo{Name: "metal", Mode: "metal"},
	}}}, nil
}

func (s *machineServer) Bootstrap(ctx context.Context, _ *machine.BootstrapRequest) (*machine.BootstrapResponse, error) {
	n := s.n
	if !n.isConfigured() {
		return nil, status.Error(codes.FailedPrecondition, "node is in maintenance mode")
	}
	n.mu.Lock()
	n.bootstrapCalls++
	if n.bootstrapCalls <= n.Faults.BootstrapFailures {
		n.mu.Unlock()
		return nil, status.Error(codes.FailedPrecondition, "time is not in sync yet")
	}
	// Talos bootstraps only a node whose etcd data directory is empty:
	// not twice, not one that joined a running etcd or was removed from
	// it.
	full := n.bootstrapped || n.etcdOut == etcdRemoved
	key := etcdKeyOf(n.config)
	n.mu.Unlock()
	if full || n.etcd().localID(n) != 0 {
		return nil, status.Error(codes.AlreadyExists, "etcd data directory is not empty")
	}
	n.mu.Lock()
	n.bootstrapped = true
	n.bootstrappedAt = n.now()
	n.mu.Unlock()
	n.etcd().bootstrap(key, n)
	return &machine.BootstrapResponse{Messages: []*machine.Bootstrap{{}}}, nil
}

// EtcdMemberList answers from a control plane whose etcd runs as a
// member, with every member (v1alpha1_server.go, EtcdMemberList:
// control planes only; the list needs a leader).
func (s *machineServer) EtcdMemberList(ctx context.Context, _ *machine.EtcdMemberListRequest) (*machine.EtcdMemberListResponse, error) {
	n := s.n
	if err := n.checkControlPlane("member list"); err != nil {
		return nil, err
	}
	n.mu.Lock()
	problem := n.network.EtcdProblem
	n.mu.Unlock()
	if problem != "" {
		return nil, status.Error(codes.Unavailable, "etcd is not running: "+problem)
	}
	members, err := n.etcd().list(n)
	switch {
	case errors.Is(err, errEtcdNotRunning):
		return nil, status.Error(codes.Unavailable, "etcd is not running")
	case err != nil:
		return nil, err
	}
	var names []string
	for _, m := range members {
		names = append(names, m.Hostname)
	}
	return &machine.EtcdMemberListResponse{Messages: []*machine.EtcdMembers{{LegacyMembers: names, Members: members}}}, nil
}

func (s *machineServer) Kubeconfig(_ *emptypb.Empty, stream grpc.ServerStreamingServer[common.Data]) error {
	n := s.n
	n.mu.Lock()
	n.kubeconfigCalls++
	// Talos generates the admin kubeconfig from the config's Kubernetes
	// CA, so a configured node hands it out before Bootstrap; the API
	// server it names answers only later (APIServerUp).
	ok, server, data, token := n.config != nil, n.KubeconfigServer, n.Kubeconfig, n.KubeconfigToken
	failing := n.kubeconfigCalls <= n.Faults.KubeconfigFailures
	n.mu.Unlock()
	if !ok {
		return status.Error(codes.FailedPrecondition, "node is in maintenance mode")
	}
	if failing {
		return status.Error(codes.Unavailable, "kubeconfig is not ready yet")
	}
	cfg := n.Config()
	if server == "" {
		server = cfg.Cluster().Endpoint().String()
	}
	if token == "" {
		token = "fake-admin-token"
	}
	if data == nil {
		data = fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: %[1]s
  cluster:
    server: %[2]s
    insecure-skip-tls-verify: true
contexts:
- name: admin@%[1]s
  context: {cluster: %[1]s, user: admin@%[1]s}
current-context: admin@%[1]s
users:
- name: admin@%[1]s
  user: {token: %[3]s}
`, cfg.Cluster().Name(), server, token)
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: "kubeconfig", Mode: 0o600, Size: int64(len(data))})
	tw.Write(data)
	tw.Close()
	gz.Close()
	return stream.Send(&common.Data{Bytes: buf.Bytes()})
}

type storageServer struct {
	storage.UnimplementedStorageServiceServer
	n *Node
}

func (s *storageServer) Disks(context.Context, *emptypb.Empty) (*storage.DisksResponse, error) {
	return &storage.DisksResponse{Messages: []*storage.Disks{{Disks: s.n.Disks}}}, nil
}

type metal struct{}

func (metal) String() string        { return "metal" }
func (metal) RequiresInstall() bool { return true }
func (metal) InContainer() bool     { return false }
