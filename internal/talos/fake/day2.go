package fake

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/api/storage"
	coreconfig "github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	"github.com/siderolabs/talos/pkg/machinery/config/container"
	machinetype "github.com/siderolabs/talos/pkg/machinery/config/machine"
	"github.com/siderolabs/talos/pkg/machinery/config/types/v1alpha1"
	"github.com/siderolabs/talos/pkg/machinery/constants"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/cto-platform/cto/internal/talos"
)

// afterBoot is what a reboot in progress brings when it ends.
type afterBoot struct {
	version string              // the Talos version it boots ("": the one it runs)
	wipe    bool                // the reset wiped the STATE partition: maintenance mode
	config  coreconfig.Provider // a staged config it boots with
	network *Network            // the staged config's network
}

// etcdOut says why a control plane's etcd does not run as a member.
type etcdOut int

const (
	etcdIn etcdOut = iota
	// etcdLeft: it left the cluster and wiped its etcd data (Talos's
	// LeaveCluster); after its next boot it joins again.
	etcdLeft
	// etcdRemoved: another member removed it; its data directory is
	// stale and etcd cannot start until the node is wiped.
	etcdRemoved
)

// AppliedConfig is one config ApplyConfiguration took on a configured
// node, with the mode it was applied in.
type AppliedConfig struct {
	Mode   machine.ApplyConfigurationRequest_Mode
	Config coreconfig.Provider
}

// authzNotAuthorized is machined's answer to a caller whose role may not
// call the method (pkg/grpc/middleware/authz: ErrNotAuthorized). A
// maintenance-mode caller has no certificate and gets role Reader.
var authzNotAuthorized = status.Error(codes.PermissionDenied, "not authorized")

func (n *Node) etcd() *Etcd {
	if n.Etcd != nil {
		return n.Etcd
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ownEtcd == nil {
		n.ownEtcd = &Etcd{}
	}
	return n.ownEtcd
}

// etcdKeyOf tells a cluster's etcd by its CA: "" for a worker or no
// config.
func etcdKeyOf(cfg coreconfig.Provider) string {
	if cfg == nil || !cfg.Machine().Type().IsControlPlane() || cfg.Cluster().Etcd().CA() == nil {
		return ""
	}
	return string(cfg.Cluster().Etcd().CA().Crt)
}

func (n *Node) etcdKey() string { n.mu.Lock(); defer n.mu.Unlock(); return etcdKeyOf(n.config) }

// joinEtcd makes a control plane configured with cfg a candidate member
// of its cluster's etcd.
func (n *Node) joinEtcd(cfg coreconfig.Provider) {
	if key := etcdKeyOf(cfg); key != "" {
		n.etcd().register(key, n)
	}
}

// etcdRunning says whether the node's etcd service runs: a control plane
// that is up, whose etcd has an address (advertisedSubnets), that did not
// leave or get removed, and, on the node that bootstrapped, once
// BootstrapTime passed.
func (n *Node) etcdRunning() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	return n.upLocked(now) && !now.Before(n.appliedAt.Add(n.InstallTime)) && etcdKeyOf(n.config) != "" && n.network.EtcdProblem == "" && n.etcdOut == etcdIn &&
		(!n.bootstrapped || !now.Before(n.bootstrappedAt.Add(n.BootstrapTime)))
}

// etcdCanJoin says whether the node's etcd runs, waiting to join the
// cluster told by key.
func (n *Node) etcdCanJoin(key string) bool { return n.etcdKey() == key && n.etcdRunning() }

// etcdRemoved: the node is no member any more; self when it left.
func (n *Node) etcdRemoved(self bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if self {
		n.etcdOut = etcdLeft
	} else {
		n.etcdOut = etcdRemoved
	}
}

// upLocked says whether the machine runs (not stopped, powered off or
// rebooting), first finishing a reboot whose time is up.
func (n *Node) upLocked(now time.Time) bool {
	n.settleLocked(now)
	return !n.off && !n.halted && !now.Before(n.downUntil)
}

// settleLocked ends a reboot whose time is up, and reverts a config
// applied in try mode whose time is up.
func (n *Node) settleLocked(now time.Time) {
	if !n.tryUntil.IsZero() && !now.Before(n.tryUntil) {
		n.config, n.tryUntil, n.tryPrevious = n.tryPrevious, time.Time{}, nil
	}
	if n.downUntil.IsZero() || now.Before(n.downUntil) {
		return
	}
	b := n.boot
	n.downUntil, n.boot = time.Time{}, afterBoot{}
	if b.version != "" {
		n.running = b.version
	}
	if n.etcdOut == etcdLeft {
		n.etcdOut = etcdIn // its etcd data is gone: it joins anew
	}
	switch {
	case b.wipe:
		n.config, n.configured, n.bootstrapped, n.network, n.staged, n.etcdOut = nil, nil, false, Network{}, nil, etcdIn
	case b.config != nil:
		n.config, n.staged = b.config, nil
		if b.network != nil {
			n.network = *b.network
		}
	}
}

// reboot takes the node down for InstallTime on its Clock, then b
// happens: its API refuses connections, its etcd member is down and its
// kubelet stopped meanwhile.
func (n *Node) reboot(why string, b afterBoot) {
	n.mu.Lock()
	n.downUntil = n.now().Add(n.InstallTime)
	if n.InstallTime <= 0 {
		n.downUntil = n.now().Add(time.Nanosecond)
	}
	n.boot = b
	n.mu.Unlock()
	n.etcd().down(n, why)
	n.wake()
}

// RunningVersion is the Talos version the node runs.
func (n *Node) RunningVersion() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.settleLocked(n.now())
	return cmp.Or(n.running, n.Version, talos.DefaultTalosVersion)
}

// Rebooting says whether the node is down for a reboot (an upgrade, a
// reset, a config applied with a reboot).
func (n *Node) Rebooting() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	n.settleLocked(now)
	return now.Before(n.downUntil)
}

// Halted says whether a reset without reboot powered the node off.
func (n *Node) Halted() bool { n.mu.Lock(); defer n.mu.Unlock(); return n.halted }

// KubeletVersion is the version of the kubelet the node runs: the tag of
// machine.kubelet.image in its running config, "" without one.
func (n *Node) KubeletVersion() string {
	cfg := n.Config()
	if cfg == nil {
		return ""
	}
	return imageTag(cfg.Machine().Kubelet().Image())
}

// UpgradeCalls counts Upgrade calls, refused ones included.
func (n *Node) UpgradeCalls() int { n.mu.Lock(); defer n.mu.Unlock(); return n.upgradeCalls }

// UpgradeImages are the installer images Upgrade calls asked for, in order.
func (n *Node) UpgradeImages() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.upgradeImages)
}

// ResetCalls counts Reset calls.
func (n *Node) ResetCalls() int { n.mu.Lock(); defer n.mu.Unlock(); return n.resetCalls }

// ResetProblem is why the last reset's sequence failed after the call
// was accepted (a graceful reset that could not leave etcd), "" when none.
func (n *Node) ResetProblem() string { n.mu.Lock(); defer n.mu.Unlock(); return n.resetProblem }

// AppliedConfigs are the configs ApplyConfiguration took over mutual TLS,
// in order, with the mode each was applied in (dry runs left out).
func (n *Node) AppliedConfigs() []AppliedConfig {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.applied)
}

// StagedConfig is a config staged for the next reboot, nil when none.
func (n *Node) StagedConfig() coreconfig.Provider { n.mu.Lock(); defer n.mu.Unlock(); return n.staged }

// imageTag is the tag of an image reference host/name:tag ("" for none).
func imageTag(image string) string {
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return ""
	}
	return image[i+1:]
}

// refuseWhileDown fails calls on connections opened before the node went
// down: a rebooting machine's connections are gone.
func (n *Node) refuseWhileDown(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	n.mu.Lock()
	up := n.upLocked(n.now())
	n.mu.Unlock()
	if !up {
		return nil, status.Error(codes.Unavailable, "connection refused: the node is rebooting")
	}
	return handler(ctx, req)
}

func (n *Node) refuseStreamWhileDown(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	n.mu.Lock()
	up := n.upLocked(n.now())
	n.mu.Unlock()
	if !up {
		return status.Error(codes.Unavailable, "connection refused: the node is rebooting")
	}
	return handler(srv, ss)
}

// clientCertified says whether the caller presented a client certificate
// the node verified (mutual TLS with the OS CA).
func clientCertified(ctx context.Context) bool {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	return ok && len(info.State.VerifiedChains) > 0
}

// isAdmin says whether the caller's certificate carries role os:admin
// (Talos roles are the certificate's organizations).
func isAdmin(ctx context.Context) bool {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 {
		return false
	}
	return slices.Contains(info.State.VerifiedChains[0][0].Subject.Organization, "os:admin")
}

// checkControlPlane is machinehelper.CheckControlplane: etcd's APIs are
// only for control planes.
func (n *Node) checkControlPlane(api string) error {
	cfg := n.Config()
	if cfg == nil {
		return status.Errorf(codes.Unimplemented, "machine type is not set, cannot use %s API", api)
	}
	if !cfg.Machine().Type().IsControlPlane() {
		return status.Errorf(codes.Unimplemented, "%s is only available on control plane nodes", api)
	}
	return nil
}

func actorID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// Upgrade is machined's Upgrade (v1alpha1_server.go, Talos v1.13): only
// an admin of an installed node (a node in maintenance mode booted from
// the network: Talos is not installed); the installer image is pulled and
// validated first (install.PullAndValidateInstallerImage), a failure
// fails the call; on a control plane, without Force or Preserve, etcd
// must pass ValidateForUpgrade; then the node drains and reboots into the
// new Talos (SequenceUpgrade; Stage writes the image to META and reboots
// to install it, SequenceStageUpgrade: the same end state). The version
// it comes back on is the image's tag, unless the new Talos does not boot
// (Faults.UpgradeBootFails): the bootloader falls back to the previous
// one.
func (s *machineServer) Upgrade(ctx context.Context, req *machine.UpgradeRequest) (*machine.UpgradeResponse, error) {
	n := s.n
	n.mu.Lock()
	n.upgradeCalls++
	n.upgradeImages = append(n.upgradeImages, req.GetImage())
	configured, cfg := n.config != nil, n.config
	n.mu.Unlock()
	if !configured {
		return nil, status.Error(codes.FailedPrecondition, "Talos is not installed")
	}
	if !isAdmin(ctx) {
		return nil, authzNotAuthorized
	}
	version := imageTag(req.GetImage())
	if version == "" {
		return nil, fmt.Errorf("error validating installer image %q: failed to parse reference %q: no tag", req.GetImage(), req.GetImage())
	}
	if n.PullsInstaller {
		if msg := pullInstaller(ctx, req.GetImage()); msg != "" {
			return nil, fmt.Errorf("error validating installer image %q: %s", req.GetImage(), strings.TrimPrefix(msg, "install: "))
		}
	}
	if cfg.Machine().Type() != machinetype.TypeWorker && !req.GetForce() && !req.GetPreserve() {
		if err := n.etcd().validateForUpgrade(n); err != nil {
			return nil, err
		}
	}
	if n.faults().UpgradeBootFails {
		version = "" // A/B fallback: the previous Talos boots
	}
	what := "upgrading to " + req.GetImage()
	if req.GetStage() {
		what = "staging an upgrade to " + req.GetImage()
	}
	n.reboot(what, afterBoot{version: version})
	return &machine.UpgradeResponse{Messages: []*machine.Upgrade{{Ack: "Upgrade request received", ActorId: actorID()}}}, nil
}

// systemVolumes are the system partitions a reset can name
// (ResetPartitionSpec labels).
var systemVolumes = []string{constants.StatePartitionLabel, constants.EphemeralPartitionLabel, constants.MetaPartitionLabel, constants.EFIPartitionLabel}

// Reset is machined's Reset (v1alpha1_server.go and the Reset sequence
// in v1alpha1_sequencer.go, Talos v1.13): only an admin; the wipe mode
// and the disks and partitions named are checked; the call is
// acknowledged and the sequence runs: a graceful reset of a control
// plane leaves etcd first (LeaveEtcd: LeaveCluster, retried for five
// minutes while etcd refuses as unhealthy; if it still fails the
// sequence stops and the node keeps running). Then the node wipes and
// reboots (or powers off without Reboot). Wiping the system disk (mode
// ALL or SYSTEM_DISK, without naming partitions, or naming STATE) takes
// the config: it comes back in maintenance mode. Talos leaves the
// Kubernetes Node object alone.
func (s *machineServer) Reset(ctx context.Context, req *machine.ResetRequest) (*machine.ResetResponse, error) {
	n := s.n
	n.mu.Lock()
	n.resetCalls++
	cfg := n.config
	n.mu.Unlock()
	if cfg == nil || !isAdmin(ctx) {
		return nil, authzNotAuthorized
	}
	if len(req.GetUserDisksToWipe()) > 0 {
		if req.GetMode() == machine.ResetRequest_SYSTEM_DISK {
			return nil, fmt.Errorf("reset failed: invalid input, wipe mode SYSTEM_DISK doesn't support UserDisksToWipe parameter")
		}
		for _, d := range req.GetUserDisksToWipe() {
			if !slices.ContainsFunc(n.Disks, func(x *storage.Disk) bool { return x.DeviceName == d }) {
				return nil, fmt.Errorf("reset user disk failed: device %s wasn't found", d)
			}
		}
	}
	wipeState := req.GetMode() != machine.ResetRequest_USER_DISKS
	if parts := req.GetSystemPartitionsToWipe(); len(parts) > 0 {
		if req.GetMode() == machine.ResetRequest_USER_DISKS {
			return nil, fmt.Errorf("reset failed: invalid input, wipe mode USER_DISKS doesn't support SystemPartitionsToWipe parameter")
		}
		wipeState = false
		for _, p := range parts {
			if !slices.Contains(systemVolumes, p.GetLabel()) {
				return nil, fmt.Errorf("failed to get volume status with label %q: resource VolumeStatuses.block.talos.dev(runtime/%s@undefined) doesn't exist", p.GetLabel(), p.GetLabel())
			}
			wipeState = wipeState || p.GetWipe() && p.GetLabel() == constants.StatePartitionLabel
		}
	}
	n.mu.Lock()
	n.resetProblem = ""
	n.mu.Unlock()
	finish := func() {
		if !req.GetReboot() {
			n.mu.Lock()
			n.halted = true
			n.mu.Unlock()
			n.etcd().down(n, "reset and powered off")
			n.wake()
			return
		}
		n.reboot("reset", afterBoot{wipe: wipeState})
	}
	if req.GetGraceful() && cfg.Machine().Type() != machinetype.TypeWorker && n.etcdRunning() {
		// LeaveEtcd runs only while the etcd service runs.
		err := n.leaveEtcd(ctx, false)
		if err == nil {
			finish()
		} else {
			go func() {
				if err := n.leaveEtcd(context.Background(), true); err != nil {
					n.mu.Lock()
					n.resetProblem = "reset failed: failed to leave cluster: " + err.Error()
					n.mu.Unlock()
					return
				}
				finish()
			}()
		}
	} else {
		finish()
	}
	return &machine.ResetResponse{Messages: []*machine.Reset{{ActorId: actorID()}}}, nil
}

// leaveRetry is how long LeaveCluster retries a removal etcd refuses as
// unhealthy (internal/pkg/etcd etcd.go: retry.Constant(5*time.Minute,
// retry.WithUnits(10*time.Second))).
const leaveRetry = 5 * time.Minute

// leaveEtcd removes the node's own member, as LeaveCluster does: a
// member already gone is done; etcd's "unhealthy cluster" is retried
// every 10 s on the node's Clock for five minutes when retry is set
// (otherwise it fails at once so the caller can retry in the
// background); anything else fails at once.
func (n *Node) leaveEtcd(ctx context.Context, retry bool) error {
	deadline := n.now().Add(leaveRetry)
	next := n.now()
	var last error
	for {
		id := n.etcd().localID(n)
		if id == 0 {
			return nil // not a member (any more)
		}
		if !n.now().Before(next) {
			err := n.etcd().remove(n, id, "left etcd")
			switch {
			case err == nil, err == errEtcdMemberNotFound:
				return nil
			case err != errEtcdUnhealthy:
				return fmt.Errorf("failed to remove member %d: %w", id, err)
			}
			last = fmt.Errorf("failed to remove member %d: %w", id, err)
			next = n.now().Add(10 * time.Second)
			if !retry {
				return last
			}
		}
		if !n.now().Before(deadline) {
			return fmt.Errorf("2 error(s) occurred:\n\t%v\n\ttimeout", last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// EtcdLeaveCluster is machined's (v1alpha1_server.go): control planes
// only; LeaveCluster, retried while etcd refuses as unhealthy.
func (s *machineServer) EtcdLeaveCluster(ctx context.Context, _ *machine.EtcdLeaveClusterRequest) (*machine.EtcdLeaveClusterResponse, error) {
	n := s.n
	if !isAdmin(ctx) {
		return nil, authzNotAuthorized
	}
	if err := n.checkControlPlane("etcd leave"); err != nil {
		return nil, err
	}
	if err := n.leaveEtcd(ctx, true); err != nil {
		return nil, fmt.Errorf("failed to leave cluster: %w", err)
	}
	return &machine.EtcdLeaveClusterResponse{Messages: []*machine.EtcdLeaveCluster{{}}}, nil
}

// EtcdRemoveMemberByID is machined's (v1alpha1_server.go): control planes
// only; an unknown member is NotFound; etcd's refusals come back as they
// are.
func (s *machineServer) EtcdRemoveMemberByID(ctx context.Context, req *machine.EtcdRemoveMemberByIDRequest) (*machine.EtcdRemoveMemberByIDResponse, error) {
	n := s.n
	if !isAdmin(ctx) {
		return nil, authzNotAuthorized
	}
	if err := n.checkControlPlane("etcd remove member"); err != nil {
		return nil, err
	}
	if err := n.etcd().remove(n, req.GetMemberId(), "removed from etcd"); err != nil {
		err = fmt.Errorf("failed to remove member %d: %w", req.GetMemberId(), err)
		if strings.HasSuffix(err.Error(), errEtcdMemberNotFound.Error()) {
			return nil, status.Error(codes.NotFound, err.Error())
		}
		return nil, fmt.Errorf("failed to remove member: %w", err)
	}
	return &machine.EtcdRemoveMemberByIDResponse{Messages: []*machine.EtcdRemoveMemberByID{{}}}, nil
}

// EtcdStatus is the local member's status (v1alpha1_server.go).
func (s *machineServer) EtcdStatus(ctx context.Context, _ *emptypb.Empty) (*machine.EtcdStatusResponse, error) {
	n := s.n
	if err := n.checkControlPlane("etcd status"); err != nil {
		return nil, err
	}
	st, err := n.etcd().status(n)
	if err != nil {
		return nil, err
	}
	return &machine.EtcdStatusResponse{Messages: []*machine.EtcdStatus{{MemberStatus: st}}}, nil
}

// applyConfigured is machined's ApplyConfiguration on a configured node
// (v1alpha1_server.go, Talos v1.13): admins only; the config must parse,
// carry a v1alpha1 document and validate; AUTO applies it at once when
// only the parts CanApplyImmediate allows changed, else with a reboot;
// NO_REBOOT and TRY refuse a config that needs one; TRY reverts after its
// timeout (one minute by default); STAGED keeps it for the next reboot;
// REBOOT reboots into it.
func (n *Node) applyConfigured(ctx context.Context, req *machine.ApplyConfigurationRequest) (*machine.ApplyConfigurationResponse, error) {
	if !isAdmin(ctx) {
		return nil, authzNotAuthorized
	}
	cfg, err := configloader.NewFromBytes(req.GetData())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if cfg.RawV1Alpha1() == nil {
		return nil, status.Error(codes.InvalidArgument, "the applied machine configuration doesn't contain v1alpha1 config, did you mean to patch the machine config instead?")
	}
	warnings, err := cfg.Validate(installed{})
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	current := n.Config()
	mode, details, modeErr := req.GetMode(), "Applied configuration with a reboot", ""
	switch mode {
	case machine.ApplyConfigurationRequest_TRY, machine.ApplyConfigurationRequest_NO_REBOOT:
		if err := canApplyImmediate(current, cfg); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		details = "Applied configuration without a reboot"
	case machine.ApplyConfigurationRequest_STAGED:
		details = "Staged configuration to be applied after the next reboot"
	case machine.ApplyConfigurationRequest_AUTO:
		if err := canApplyImmediate(current, cfg); err != nil {
			mode, modeErr = machine.ApplyConfigurationRequest_REBOOT, ": "+err.Error()
		} else {
			mode, details = machine.ApplyConfigurationRequest_NO_REBOOT, "Applied configuration without a reboot"
		}
	case machine.ApplyConfigurationRequest_REBOOT:
	default:
		return nil, fmt.Errorf("incorrect mode '%s' specified for the apply config call", mode)
	}
	if req.GetDryRun() {
		return &machine.ApplyConfigurationResponse{Messages: []*machine.ApplyConfiguration{{Mode: mode,
			ModeDetails: fmt.Sprintf("Dry run summary:\n%s (skipped in dry-run).\n", details)}}}, nil
	}
	nw := n.networkOf(cfg)
	n.mu.Lock()
	n.applied = append(n.applied, AppliedConfig{Mode: mode, Config: cfg})
	switch mode {
	case machine.ApplyConfigurationRequest_TRY:
		timeout := constants.ConfigTryTimeout
		if req.GetTryModeTimeout() != nil {
			timeout = req.GetTryModeTimeout().AsDuration()
		}
		details += fmt.Sprintf("\nThe config is applied in 'try' mode and will be automatically reverted back in %s", timeout)
		if n.tryUntil.IsZero() {
			n.tryPrevious = n.config
		}
		n.tryUntil = n.now().Add(timeout)
		n.config, n.network = cfg, nw
	case machine.ApplyConfigurationRequest_NO_REBOOT:
		n.tryUntil, n.tryPrevious = time.Time{}, nil
		n.config, n.network = cfg, nw
	case machine.ApplyConfigurationRequest_STAGED:
		n.staged = cfg
		n.boot.config, n.boot.network = cfg, &nw
	}
	n.mu.Unlock()
	if mode == machine.ApplyConfigurationRequest_REBOOT {
		n.reboot("rebooting into a new config", afterBoot{config: cfg, network: &nw})
	}
	return &machine.ApplyConfigurationResponse{Messages: []*machine.ApplyConfiguration{{Mode: mode, Warnings: warnings, ModeDetails: details + modeErr}}}, nil
}

// networkOf is what the node makes of cfg's network documents with its
// links as they are now.
func (n *Node) networkOf(cfg coreconfig.Provider) Network {
	links := defaultLinks(n.ip)
	if n.Links != nil {
		links = n.Links()
	}
	ip, _ := netip.AddrFromSlice(n.ip)
	return evaluateNetwork(cfg, links, ip.Unmap())
}

// canApplyImmediate is Talos's Runtime.CanApplyImmediate (machined
// v1alpha1_runtime.go, v1.13): the v1alpha1 document may change without a
// reboot in .debug, .cluster, and .machine's ca, acceptedCAs, time,
// certSANs, install, network, sysfs, sysctls, logging, controlPlane,
// kubelet, kernel, registries, pods, seccompProfiles, nodeAnnotations,
// nodeLabels, nodeTaints and features.{kubernetesTalosAPIAccess,
// kubePrism, hostDNS, imageCache, nodeAddressSortAlgorithm}; anything
// else needs a reboot. Other documents are not compared.
func canApplyImmediate(current, next coreconfig.Provider) error {
	if current == nil || current.RawV1Alpha1() == nil {
		return fmt.Errorf("no current config")
	}
	cur := current.RawV1Alpha1()
	nc := next.RawV1Alpha1().DeepCopy()
	nc.ConfigDebug = cur.ConfigDebug
	nc.ClusterConfig = cur.ClusterConfig
	if nc.MachineConfig != nil && cur.MachineConfig != nil {
		m, c := nc.MachineConfig, cur.MachineConfig
		m.MachineCA, m.MachineAcceptedCAs, m.MachineTime, m.MachineCertSANs = c.MachineCA, c.MachineAcceptedCAs, c.MachineTime, c.MachineCertSANs   //nolint:staticcheck
		m.MachineInstall, m.MachineNetwork, m.MachineSysfs, m.MachineSysctls = c.MachineInstall, c.MachineNetwork, c.MachineSysfs, c.MachineSysctls //nolint:staticcheck
		m.MachineLogging, m.MachineControlPlane, m.MachineKubelet, m.MachineKernel = c.MachineLogging, c.MachineControlPlane, c.MachineKubelet, c.MachineKernel
		m.MachineRegistries, m.MachinePods, m.MachineSeccompProfiles = c.MachineRegistries, c.MachinePods, c.MachineSeccompProfiles //nolint:staticcheck
		m.MachineNodeAnnotations, m.MachineNodeLabels, m.MachineNodeTaints = c.MachineNodeAnnotations, c.MachineNodeLabels, c.MachineNodeTaints
		if m.MachineFeatures != nil && c.MachineFeatures != nil {
			f, cf := m.MachineFeatures, c.MachineFeatures
			f.KubernetesTalosAPIAccessConfig, f.KubePrismSupport, f.HostDNSSupport = cf.KubernetesTalosAPIAccessConfig, cf.KubePrismSupport, cf.HostDNSSupport
			f.ImageCacheSupport, f.FeatureNodeAddressSortAlgorithm = cf.ImageCacheSupport, cf.FeatureNodeAddressSortAlgorithm
		}
	}
	if reflect.DeepEqual(cur, nc) {
		return nil
	}
	return fmt.Errorf("this config change can't be applied in immediate mode\ndiff:\n%s", lineDiff(cur, nc))
}

// lineDiff lists the lines of two v1alpha1 documents' YAML that only one
// of them has (Talos prints a unified diff, configdiff.DiffConfigs).
func lineDiff(a, b *v1alpha1.Config) string {
	ea, _ := container.NewV1Alpha1(a).EncodeString()
	eb, _ := container.NewV1Alpha1(b).EncodeString()
	la, lb := strings.Split(ea, "\n"), strings.Split(eb, "\n")
	var out []string
	for _, l := range la {
		if !slices.Contains(lb, l) {
			out = append(out, "-"+l)
		}
	}
	for _, l := range lb {
		if !slices.Contains(la, l) {
			out = append(out, "+"+l)
		}
	}
	return strings.Join(out, "\n")
}

// installed is the validation mode of an installed metal node.
type installed struct{ metal }

func (installed) RequiresInstall() bool { return false }
