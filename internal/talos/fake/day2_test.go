package fake_test

import (
	"context"
	"crypto/tls"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	"github.com/siderolabs/talos/pkg/machinery/config/types/v1alpha1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cto-platform/cto/internal/talos"
	"github.com/cto-platform/cto/internal/talos/fake"
	"github.com/cto-platform/cto/internal/talos/talostest"
)

// stepClock is a clock the test moves.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *stepClock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

const installTime, bootstrapTime = 2 * time.Minute, 3 * time.Minute

// cluster is control planes (and workers) of one cluster on a clock,
// sharing trustd and etcd as one datacenter's do.
type cluster struct {
	t       *testing.T
	secrets *talos.Secrets
	clk     *stepClock
	trustd  *fake.Trustd
	etcd    *fake.Etcd
	block   string
	nodes   []*fake.Node
	factory string // the factory double's URL, "" for none
}

func newCluster(t *testing.T) *cluster {
	return &cluster{t: t, secrets: talostest.FixedSecrets(t), clk: &stepClock{t: time.Unix(1_700_000_000, 0)},
		trustd: &fake.Trustd{}, etcd: &fake.Etcd{}, block: fake.LoopbackBlock()}
}

// node starts a node and applies it a config of role.
func (c *cluster) node(name, role string, mod func(*fake.Node)) *fake.Node {
	c.t.Helper()
	n := &fake.Node{Name: name, Clock: c.clk, Trustd: c.trustd, Etcd: c.etcd, InstallTime: installTime, BootstrapTime: bootstrapTime}
	if mod != nil {
		mod(n)
	}
	if err := n.Start(c.block + string(rune('1'+len(c.nodes))) + ":0"); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(n.Stop)
	c.nodes = append(c.nodes, n)
	if role != "" {
		if err := c.client().Apply(context.Background(), n.Addr(), c.config(name, role, ""), time.Second); err != nil {
			c.t.Fatal(err)
		}
	}
	return n
}

func (c *cluster) config(name, role, kubernetes string) []byte {
	c.t.Helper()
	image := "factory.talos.dev/metal-installer/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba:v1.13.9"
	out, err := talos.Generate(talos.ClusterInput{Name: "demo", Endpoint: "203.0.113.11", PrivateCIDR: "10.8.0.0/24", Secrets: c.secrets, KubernetesVersion: kubernetes},
		talos.NodeInput{Name: name, Role: role, PrivateIP: "10.8.0.11", InstallImage: image, Disk: talos.Disk{Serial: "NVME-1"}})
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

func (c *cluster) client() *talos.Client {
	c.t.Helper()
	data, err := talos.Talosconfig(c.secrets, "demo", nil)
	if err != nil {
		c.t.Fatal(err)
	}
	cfg, err := talos.ParseTalosconfig(data)
	if err != nil {
		c.t.Fatal(err)
	}
	return &talos.Client{Talosconfig: cfg, CallTimeout: 2 * time.Second}
}

// api is a machinery client to a node over mutual TLS.
func (c *cluster) api(n *fake.Node) *client.Client {
	c.t.Helper()
	tc, err := client.New(context.Background(), client.WithConfig(c.client().Talosconfig), client.WithEndpoints(n.Addr()))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { tc.Close() })
	return tc
}

// settled waits up to a second of wall time for a node's API to read
// want (the node looks at its clock every few milliseconds).
func settled(c *cluster, n *fake.Node, want talos.NodeState) talos.NodeState {
	var st talos.NodeState
	// A loaded machine may take seconds to bring a node's socket back and
	// complete a handshake: the bound only costs time when it fails.
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if st = c.client().Probe(context.Background(), n.Addr()); st == want {
			break
		}
	}
	return st
}

// advance moves the clock and waits until the nodes that run their
// config answer over mutual TLS again.
func (c *cluster) advance(d time.Duration) {
	c.t.Helper()
	c.clk.Advance(d)
	for _, n := range c.nodes {
		if n.Config() != nil && !n.Rebooting() && !n.Halted() {
			if st := settled(c, n, talos.Configured); st != talos.Configured {
				c.t.Fatalf("%s after %s: %s", n.Name, d, st)
			}
		}
	}
}

// threeControlPlanes installs three control planes, bootstraps the first
// and waits until etcd runs with all three.
func threeControlPlanes(t *testing.T) (*cluster, []*fake.Node) {
	c := newCluster(t)
	cps := []*fake.Node{c.node("cp1", talos.RoleControlPlane, nil), c.node("cp2", talos.RoleControlPlane, nil), c.node("cp3", talos.RoleControlPlane, nil)}
	c.advance(installTime)
	if err := c.client().Bootstrap(context.Background(), cps[0].Addr()); err != nil {
		t.Fatal(err)
	}
	c.advance(bootstrapTime)
	return c, cps
}

// The bootstrapped control plane is etcd's first member; the others of the
// cluster join once they are up; every member answers the list, with the
// URLs Talos advertises.
func TestEtcdMembersAcrossControlPlanes(t *testing.T) {
	c := newCluster(t)
	cp1 := c.node("cp1", talos.RoleControlPlane, nil)
	cp2 := c.node("cp2", talos.RoleControlPlane, nil)
	ctx := context.Background()
	c.advance(installTime)
	if _, err := c.client().EtcdMembers(ctx, cp1.Addr()); status.Code(err) != codes.Unavailable {
		t.Fatalf("member list before bootstrap: %v, want Unavailable", err)
	}
	if err := c.client().Bootstrap(ctx, cp1.Addr()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client().EtcdMembers(ctx, cp1.Addr()); status.Code(err) != codes.Unavailable {
		t.Fatalf("member list while etcd starts: %v, want Unavailable", err)
	}
	c.advance(bootstrapTime)
	cp3 := c.node("cp3", talos.RoleControlPlane, nil)
	for _, n := range []*fake.Node{cp1, cp2} {
		if got, err := c.client().EtcdMembers(ctx, n.Addr()); err != nil || got != 2 {
			t.Fatalf("members on %s = %d, %v; want 2 (cp3 still installs)", n.Name, got, err)
		}
	}
	c.advance(installTime)
	resp, err := c.api(cp3).EtcdMemberList(ctx, &machine.EtcdMemberListRequest{})
	if err != nil {
		t.Fatal(err)
	}
	members := resp.GetMessages()[0].GetMembers()
	if len(members) != 3 {
		t.Fatalf("members = %v, want 3", members)
	}
	for i, m := range members {
		ip := strings.Split(c.nodes[i].Addr(), ":")[0]
		if m.Hostname != c.nodes[i].Name || m.Id == 0 || m.IsLearner ||
			m.PeerUrls[0] != "https://"+ip+":2380" || m.ClientUrls[0] != "https://"+ip+":2379" {
			t.Errorf("member %d = %v", i, m)
		}
	}
	if err := c.client().Bootstrap(ctx, cp2.Addr()); err != nil {
		t.Errorf("bootstrap of a member: %v, want AlreadyExists, which the client takes as done", err)
	}
	if cp2.Bootstrapped() {
		t.Error("a member that joined bootstrapped a second etcd")
	}
	if l := c.etcd.QuorumLosses(); len(l) != 0 {
		t.Errorf("quorum losses = %v", l)
	}
}

// An upgrade pulls the installer, reboots the node (its API down for
// InstallTime, its etcd member unhealthy) and brings it back on the
// image's version.
func TestUpgradeRebootsIntoTheNewVersion(t *testing.T) {
	c, cps := threeControlPlanes(t)
	ctx := context.Background()
	image := "factory.talos.dev/metal-installer/abc:v1.13.10"
	resp, err := c.api(cps[1]).UpgradeWithOptions(ctx, client.WithUpgradeImage(image))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetMessages()[0].GetAck() != "Upgrade request received" {
		t.Errorf("ack = %v", resp)
	}
	if !cps[1].Rebooting() {
		t.Fatal("the node does not reboot")
	}
	if st := settled(c, cps[1], talos.Unreachable); st != talos.Unreachable {
		t.Fatalf("upgrading node: %s, want unreachable", st)
	}
	if got, _ := c.client().EtcdMembers(ctx, cps[0].Addr()); got != 3 {
		t.Errorf("members while one reboots = %d, want 3 (its member stays)", got)
	}
	c.advance(installTime - time.Second)
	if st := settled(c, cps[1], talos.Unreachable); st != talos.Unreachable {
		t.Fatalf("before the reboot ends: %s", st)
	}
	c.advance(time.Second)
	if st := settled(c, cps[1], talos.Configured); st != talos.Configured {
		t.Fatalf("after the reboot: %s", st)
	}
	if v, err := c.client().Version(ctx, cps[1].Addr()); err != nil || v != "v1.13.10" {
		t.Errorf("version after the upgrade = %q, %v", v, err)
	}
	if v, _ := c.client().Version(ctx, cps[0].Addr()); v != talos.DefaultTalosVersion {
		t.Errorf("the other nodes run %q", v)
	}
	if got := cps[1].UpgradeImages(); cps[1].UpgradeCalls() != 1 || len(got) != 1 || got[0] != image {
		t.Errorf("upgrade calls %d, images %v", cps[1].UpgradeCalls(), got)
	}
	if m, ok := c.etcd.MinHealthyMargin(); !ok || m != 0 || len(c.etcd.QuorumLosses()) != 0 {
		t.Errorf("margin %d (%v), losses %v; want 0 and none", m, ok, c.etcd.QuorumLosses())
	}
}

// A control plane's upgrade is refused as Talos refuses it while another
// etcd member is down, with Force it goes ahead and etcd loses quorum.
func TestControlPlaneUpgradeRefusedWhileAMemberIsDown(t *testing.T) {
	c, cps := threeControlPlanes(t)
	ctx := context.Background()
	image := "factory.talos.dev/metal-installer/abc:v1.13.10"
	if _, err := c.api(cps[0]).UpgradeWithOptions(ctx, client.WithUpgradeImage(image)); err != nil {
		t.Fatal(err)
	}
	_, err := c.api(cps[1]).UpgradeWithOptions(ctx, client.WithUpgradeImage(image))
	if status.Code(err) != codes.DeadlineExceeded || !strings.Contains(err.Error(), "error validating etcd for upgrade: etcd member") ||
		!strings.Contains(err.Error(), "is not healthy; all members must be healthy to perform an upgrade") {
		t.Fatalf("upgrade while a member is down: %v", err)
	}
	if cps[1].Rebooting() || cps[1].RunningVersion() != talos.DefaultTalosVersion {
		t.Fatal("a refused upgrade touched the node")
	}
	if _, err := c.api(cps[1]).UpgradeWithOptions(ctx, client.WithUpgradeImage(image), client.WithUpgradeForce(true)); err != nil {
		t.Fatalf("forced upgrade: %v", err)
	}
	if l := c.etcd.QuorumLosses(); len(l) != 1 || !strings.Contains(l[0], "cp2") || !strings.Contains(l[0], "1 of 3 members healthy") {
		t.Errorf("quorum losses = %v, want cp2's upgrade", l)
	}
	if _, err := c.api(cps[2]).EtcdMemberList(ctx, &machine.EtcdMemberListRequest{}); err == nil || !strings.Contains(err.Error(), "etcdserver: no leader") {
		t.Errorf("member list without quorum: %v", err)
	}
	c.advance(installTime)
	if got, err := c.client().EtcdMembers(ctx, cps[2].Addr()); err != nil || got != 3 {
		t.Errorf("members after both came back = %d, %v", got, err)
	}
}

// Two members cannot keep quorum while one upgrades; a single one may.
func TestUpgradeOfTwoMemberEtcdRefused(t *testing.T) {
	c := newCluster(t)
	cp1, cp2 := c.node("cp1", talos.RoleControlPlane, nil), c.node("cp2", talos.RoleControlPlane, nil)
	c.advance(installTime)
	ctx := context.Background()
	if err := c.client().Bootstrap(ctx, cp1.Addr()); err != nil {
		t.Fatal(err)
	}
	c.advance(bootstrapTime)
	_, err := c.api(cp2).UpgradeWithOptions(ctx, client.WithUpgradeImage("r.example/installer/abc:v1.13.10"))
	if status.Code(err) != codes.Unknown || !strings.Contains(err.Error(), "etcd member count(2) is insufficient to maintain quorum if upgrade commences") {
		t.Fatalf("upgrade of one of two members: %v", err)
	}
}

// An installer that does not boot: the node falls back to the Talos it
// ran.
func TestUpgradeBootFailureRollsBack(t *testing.T) {
	c := newCluster(t)
	n := c.node("cp1", talos.RoleControlPlane, func(n *fake.Node) { n.Faults.UpgradeBootFails = true })
	c.advance(installTime)
	ctx := context.Background()
	if err := c.client().Bootstrap(ctx, n.Addr()); err != nil {
		t.Fatal(err)
	}
	c.advance(bootstrapTime)
	if _, err := c.api(n).UpgradeWithOptions(ctx, client.WithUpgradeImage("r.example/installer/abc:v1.13.10"), client.WithUpgradeStage(true)); err != nil {
		t.Fatal(err)
	}
	if st := settled(c, n, talos.Unreachable); st != talos.Unreachable {
		t.Fatalf("rebooting node: %s", st)
	}
	c.advance(installTime)
	if st := settled(c, n, talos.Configured); st != talos.Configured {
		t.Fatalf("after the reboot: %s", st)
	}
	if v, err := c.client().Version(ctx, n.Addr()); err != nil || v != talos.DefaultTalosVersion {
		t.Errorf("version after a failed boot = %q, %v; want the previous one", v, err)
	}
}

// The installer is pulled first: one the registry does not serve fails the
// call and leaves the node as it was; a node in maintenance mode has no
// Talos installed to upgrade.
func TestUpgradePullsTheInstallerFirst(t *testing.T) {
	factory := fake.NewFactory(talos.DefaultTalosVersion, "v1.13.10")
	srv := httptest.NewServer(factory)
	t.Cleanup(srv.Close)
	ctx := context.Background()
	id, err := talos.Factory{URL: srv.URL}.EnsureSchematic(ctx, talos.SchematicFor(nil))
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t)
	n := c.node("w1", "", func(n *fake.Node) { n.PullsInstaller = false })
	insecure, err := client.New(ctx, client.WithTLSConfig(&tls.Config{InsecureSkipVerify: true}), client.WithEndpoints(n.Addr())) //nolint:gosec
	if err != nil {
		t.Fatal(err)
	}
	defer insecure.Close()
	_, err = insecure.UpgradeWithOptions(ctx, client.WithUpgradeImage(talos.Factory{URL: srv.URL}.Images(id, "v1.13.10").Installer()))
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "Talos is not installed") {
		t.Errorf("upgrade in maintenance mode: %v", err)
	}

	// Its install pulls nothing (its config names factory.talos.dev);
	// upgrades pull from the double.
	cp := c.node("cp1", talos.RoleControlPlane, nil)
	cp.PullsInstaller = true
	c.advance(installTime)
	if err := c.client().Bootstrap(ctx, cp.Addr()); err != nil {
		t.Fatal(err)
	}
	c.advance(bootstrapTime)
	bad := talos.Factory{URL: srv.URL}.Images(id, "v1.12.99").Installer()
	_, err = c.api(cp).UpgradeWithOptions(ctx, client.WithUpgradeImage(bad))
	if err == nil || !strings.Contains(err.Error(), "error validating installer image") || !strings.Contains(err.Error(), "MANIFEST_UNKNOWN") {
		t.Fatalf("upgrade to an image the registry does not serve: %v", err)
	}
	if cp.Rebooting() || cp.RunningVersion() != talos.DefaultTalosVersion {
		t.Fatal("a failed pull touched the node")
	}
	good := talos.Factory{URL: srv.URL}.Images(id, "v1.13.10").Installer()
	if _, err := c.api(cp).UpgradeWithOptions(ctx, client.WithUpgradeImage(good)); err != nil {
		t.Fatal(err)
	}
	if factory.Pulls()[strings.SplitN(good, "/", 2)[1]] != 1 {
		t.Errorf("pulls = %v", factory.Pulls())
	}
	c.advance(installTime)
	if v := cp.RunningVersion(); v != "v1.13.10" {
		t.Errorf("running %s", v)
	}
}

// EtcdLeaveCluster takes the node itself out; EtcdRemoveMemberByID takes
// another member out: a member that is down always, a healthy one only
// when the others still make a quorum, as etcd checks.
func TestEtcdLeaveAndRemoveMember(t *testing.T) {
	c, cps := threeControlPlanes(t)
	ctx := context.Background()
	ids := map[string]uint64{}
	resp, err := c.api(cps[0]).EtcdMemberList(ctx, &machine.EtcdMemberListRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range resp.GetMessages()[0].GetMembers() {
		ids[m.Hostname] = m.Id
	}
	// cp3 reboots: removing healthy cp2 would leave one of two healthy.
	if _, err := c.api(cps[2]).UpgradeWithOptions(ctx, client.WithUpgradeImage("r.example/installer/abc:v1.13.10")); err != nil {
		t.Fatal(err)
	}
	err = c.api(cps[0]).EtcdRemoveMemberByID(ctx, &machine.EtcdRemoveMemberByIDRequest{MemberId: ids["cp2"]})
	if err == nil || !strings.Contains(err.Error(), "etcdserver: unhealthy cluster") {
		t.Fatalf("removing a healthy member while another is down: %v", err)
	}
	if err := c.api(cps[0]).EtcdRemoveMemberByID(ctx, &machine.EtcdRemoveMemberByIDRequest{MemberId: ids["cp3"]}); err != nil {
		t.Fatalf("removing the member that is down: %v", err)
	}
	err = c.api(cps[0]).EtcdRemoveMemberByID(ctx, &machine.EtcdRemoveMemberByIDRequest{MemberId: ids["cp3"]})
	if status.Code(err) != codes.NotFound {
		t.Errorf("removing it again: %v, want NotFound", err)
	}
	if err := c.api(cps[1]).EtcdLeaveCluster(ctx, &machine.EtcdLeaveClusterRequest{}); err != nil {
		t.Fatalf("cp2 leaves: %v", err)
	}
	if got, err := c.client().EtcdMembers(ctx, cps[0].Addr()); err != nil || got != 1 {
		t.Errorf("members after the removal and the leave = %d, %v; want 1", got, err)
	}
	if _, err := c.client().EtcdMembers(ctx, cps[1].Addr()); status.Code(err) != codes.Unavailable {
		t.Errorf("member list on the node that left: %v, want Unavailable (its etcd stopped)", err)
	}
	if l := c.etcd.QuorumLosses(); len(l) != 0 {
		t.Errorf("quorum losses = %v", l)
	}
	// The last member cannot leave.
	leave := make(chan error, 1)
	go func() { leave <- c.api(cps[0]).EtcdLeaveCluster(ctx, &machine.EtcdLeaveClusterRequest{}) }()
	if err := <-leave; err == nil || !strings.Contains(err.Error(), "not enough started members") {
		t.Errorf("the last member leaving: %v", err)
	}
	if _, err := c.api(fakeWorker(c)).EtcdMemberList(ctx, &machine.EtcdMemberListRequest{}); status.Code(err) != codes.Unimplemented {
		t.Errorf("member list on a worker: %v, want Unimplemented", err)
	}
}

// fakeWorker brings up a worker of the cluster.
func fakeWorker(c *cluster) *fake.Node {
	w := c.node("w1", talos.RoleWorker, nil)
	c.advance(installTime)
	if st := settled(c, w, talos.Configured); st != talos.Configured {
		c.t.Fatalf("worker: %s", st)
	}
	return w
}

// A graceful reset of a control plane leaves etcd, wipes the node and
// brings it back in maintenance mode after the reboot; while another
// member is down the leave is refused and retried for five minutes, then
// the reset fails and the node keeps running.
func TestResetGracefulLeavesEtcd(t *testing.T) {
	c, cps := threeControlPlanes(t)
	ctx := context.Background()
	if err := c.api(cps[2]).ResetGeneric(ctx, &machine.ResetRequest{Graceful: true, Reboot: true}); err != nil {
		t.Fatal(err)
	}
	if st := settled(c, cps[2], talos.Unreachable); st != talos.Unreachable {
		t.Fatalf("resetting node: %s", st)
	}
	if got, _ := c.client().EtcdMembers(ctx, cps[0].Addr()); got != 2 {
		t.Errorf("members after the graceful reset = %d, want 2", got)
	}
	c.advance(installTime)
	if st := settled(c, cps[2], talos.Maintenance); st != talos.Maintenance {
		t.Fatalf("after the reset's reboot: %s, want maintenance", st)
	}
	if l := c.etcd.QuorumLosses(); len(l) != 0 {
		t.Errorf("quorum losses = %v", l)
	}

	// Two members left: cp2 reboots; cp1 cannot leave without losing
	// quorum.
	if _, err := c.api(cps[1]).UpgradeWithOptions(ctx, client.WithUpgradeImage("r.example/installer/abc:v1.13.10"), client.WithUpgradeForce(true)); err != nil {
		t.Fatal(err)
	}
	c.advance(time.Second)
	if err := c.api(cps[0]).ResetGeneric(ctx, &machine.ResetRequest{Graceful: true, Reboot: true}); err != nil {
		t.Fatal(err)
	}
	if cps[0].Rebooting() {
		t.Fatal("the reset went ahead without leaving etcd")
	}
	c.advance(6 * time.Minute)
	for end := time.Now().Add(time.Second); cps[0].ResetProblem() == "" && time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
	}
	if p := cps[0].ResetProblem(); !strings.Contains(p, "failed to leave cluster") {
		t.Errorf("reset problem = %q", p)
	}
	if cps[0].Rebooting() || cps[0].Config() == nil {
		t.Error("the failed reset wiped the node")
	}
}

// A configured node takes a new config over mutual TLS: a kubelet image
// change applies without a reboot (Talos's CanApplyImmediate), a change
// elsewhere in .machine needs one.
func TestApplyOverMutualTLS(t *testing.T) {
	c := newCluster(t)
	n := c.node("cp1", talos.RoleControlPlane, nil)
	c.advance(installTime)
	ctx := context.Background()
	before := n.KubeletVersion()
	resp, err := c.api(n).ApplyConfiguration(ctx, &machine.ApplyConfigurationRequest{Data: c.config("cp1", talos.RoleControlPlane, "1.35.2"), Mode: machine.ApplyConfigurationRequest_AUTO})
	if err != nil {
		t.Fatal(err)
	}
	if m := resp.GetMessages()[0]; m.GetMode() != machine.ApplyConfigurationRequest_NO_REBOOT {
		t.Errorf("mode = %s (%s), want NO_REBOOT", m.GetMode(), m.GetModeDetails())
	}
	if n.Rebooting() || n.KubeletVersion() != "v1.35.2" || before == "v1.35.2" {
		t.Errorf("kubelet %s (was %s), rebooting %v", n.KubeletVersion(), before, n.Rebooting())
	}
	if a := n.AppliedConfigs(); len(a) != 1 || a[0].Mode != machine.ApplyConfigurationRequest_NO_REBOOT {
		t.Errorf("applied = %v", a)
	}

	cfg, err := configloader.NewFromBytes(c.config("cp1", talos.RoleControlPlane, "1.35.2"))
	if err != nil {
		t.Fatal(err)
	}
	patched, err := cfg.PatchV1Alpha1(func(c *v1alpha1.Config) error {
		c.MachineConfig.MachineEnv = map[string]string{"http_proxy": "http://proxy.example:3128"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	data, err := patched.EncodeBytes()
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.api(n).ApplyConfiguration(ctx, &machine.ApplyConfigurationRequest{Data: data, Mode: machine.ApplyConfigurationRequest_NO_REBOOT})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "can't be applied in immediate mode") {
		t.Fatalf("no-reboot apply of a change that needs a reboot: %v", err)
	}
	resp, err = c.api(n).ApplyConfiguration(ctx, &machine.ApplyConfigurationRequest{Data: data, Mode: machine.ApplyConfigurationRequest_AUTO})
	if err != nil || resp.GetMessages()[0].GetMode() != machine.ApplyConfigurationRequest_REBOOT {
		t.Fatalf("auto apply of a change that needs a reboot: %v, %v", resp, err)
	}
	if st := settled(c, n, talos.Unreachable); st != talos.Unreachable {
		t.Fatalf("node rebooting into its config: %s", st)
	}
	c.advance(installTime)
	if st := settled(c, n, talos.Configured); st != talos.Configured {
		t.Fatalf("after the reboot: %s", st)
	}
	if n.Config().Machine().Env()["http_proxy"] == "" {
		t.Error("the node did not boot into the new config")
	}
	if _, err := c.api(n).ApplyConfiguration(ctx, &machine.ApplyConfigurationRequest{Data: []byte("version: v1alpha1\nmachine: {type: nope}\n")}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("invalid config: %v, want InvalidArgument", err)
	}
}
