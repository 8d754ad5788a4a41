package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cto-platform/cto/internal/fanout"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/internal/talos"
)

// PlaceholderBootURL is the iPXE URL servers boot when no Talos boot media
// is wired into the deploy: the servers come up, Talos does not.
const PlaceholderBootURL = "http://boot-media-not-configured.invalid/cto/placeholder.ipxe"

// MaxReplacements is how many times one node's server is replaced after a
// failed or stuck deployment before the step gives up.
const MaxReplacements = 2

// createConcurrency bounds parallel creates at a provider that does not
// pace itself; the provider's own write budget paces them further.
const createConcurrency = 8

// joinsNetworkEarly says whether each server joins the cluster's network
// right after its order: a paced provider with private networks whose
// addresses cto chooses.
func joinsNetworkEarly(r *pipeline.Run) bool {
	p := r.Deps.Provider
	pp, ok := p.(provider.Paced)
	return ok && pp.Paced() && p.Capabilities().PrivateNetworks
}

// concurrencyFor is how many creates run at once at p.
func concurrencyFor(p provider.Provider, n int) int {
	if pp, ok := p.(provider.Paced); ok && pp.Paced() {
		return max(n, 1)
	}
	return createConcurrency
}

// serversStep creates the cluster's servers concurrently, journals each ID
// the moment the API returns it, adopts what an earlier run created, and
// waits with one list call per poll, replacing failed or stuck servers.
type serversStep struct{}

func (serversStep) Name() string { return StepServers }

func (serversStep) Skip(r *pipeline.Run) (string, bool) {
	if !r.Deps.Spec.NeedsMachines() {
		return fmt.Sprintf("provider %s rents no servers", r.Deps.Spec.Provider), true
	}
	return "", false
}

func (serversStep) DryRun(ctx context.Context, r *pipeline.Run) error {
	sp := r.Deps.Spec
	for _, n := range desiredNodes(sp) {
		r.Say("would create %s (%s, plan %s) in %s", n.Name, n.Role, planFor(sp, n.Role), regionOf(r))
	}
	return nil
}

// desiredNodes are the cluster's nodes in order: control planes, then
// workers.
func desiredNodes(sp spec.ClusterSpec) []state.Node {
	var out []state.Node
	for i := 1; i <= sp.ControlPlanes; i++ {
		out = append(out, state.Node{Name: fmt.Sprintf("%s-cp%d", sp.Name, i), Role: string(provider.RoleControlPlane), Index: i})
	}
	for i := 1; i <= sp.Workers(); i++ {
		out = append(out, state.Node{Name: fmt.Sprintf("%s-worker%d", sp.Name, i), Role: string(provider.RoleWorker), Index: i})
	}
	return out
}

func planFor(sp spec.ClusterSpec, role string) string {
	if role == string(provider.RoleWorker) && sp.WorkerPlan != "" {
		return sp.WorkerPlan
	}
	return sp.Plan
}

func regionOf(r *pipeline.Run) string {
	if f := r.Journal.FactsCopy().Region; f != "" {
		return f
	}
	return strings.ToUpper(r.Deps.Spec.Region)
}

func (serversStep) Run(ctx context.Context, r *pipeline.Run) error {
	sp := r.Deps.Spec
	p := r.Deps.Provider
	boot, err := bootMedia(ctx, r)
	if err != nil {
		return err
	}
	early := joinsNetworkEarly(r)
	var addrErr error
	if err := r.Journal.Update(func(j *state.Journal) {
		for _, d := range desiredNodes(sp) {
			if j.NodeLocked(d.Name) == nil {
				n := d
				j.Nodes = append(j.Nodes, &n)
			}
		}
		// The addresses the network step hands out, known now, so each
		// node's Talos config can be rendered as soon as its server is up.
		if early {
			addrErr = fillPrivateAddresses(sp.Network.CIDR, j.Nodes)
		}
	}); err != nil {
		return err
	}
	if addrErr != nil {
		return addrErr
	}
	sv := &servers{r: r, p: p, boot: boot, region: regionOf(r), firstSeen: map[string]time.Time{}}
	if early {
		// The network's writes share the budget with the orders: each new
		// server joins it right after its order instead of after the last
		// deploy, and the network step finds the work done.
		net, err := ensureNetwork(ctx, r)
		if err != nil {
			return err
		}
		sv.network = &net
	}
	missing, err := sv.adopt(ctx)
	if err != nil {
		return err
	}
	if !early {
		if err := sv.createAll(ctx, missing); err != nil {
			return err
		}
		return sv.wait(ctx)
	}
	// Watch the servers while the last orders still wait for the budget:
	// each one is seen up (and takes its Talos config) as soon as it is.
	sv.creating = map[string]bool{}
	for _, name := range missing {
		sv.creating[name] = true
	}
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The first failure stops the other side and is the one reported.
	var first error
	var once sync.Once
	stop := func(err error) {
		once.Do(func() { first = err; cancel(err) })
	}
	created := make(chan struct{})
	go func() {
		defer close(created)
		if err := sv.createAll(wctx, missing); err != nil {
			stop(err)
		}
	}()
	if err := sv.wait(wctx); err != nil {
		stop(err)
	}
	<-created
	return first
}

// bootMedia asks the Talos wiring for the boot media of each node class:
// GPU nodes need drivers in their image. Without wiring every node boots a
// placeholder that starts nothing useful, and the user is told.
func bootMedia(ctx context.Context, r *pipeline.Run) (map[string]provider.Boot, error) {
	// The classes the talos step installs: a node boots the schematic its
	// install image carries, or the extensions disappear on install.
	gpuFor := map[string]bool{
		string(provider.RoleControlPlane): nodeHasGPU(r, talos.RoleControlPlane),
		string(provider.RoleWorker):       nodeHasGPU(r, talos.RoleWorker),
	}
	out := map[string]provider.Boot{}
	if r.Deps.BootMedia == nil {
		r.Warn("no Talos boot media is configured in this build; servers boot the placeholder %s", PlaceholderBootURL)
		for role := range gpuFor {
			out[role] = provider.Boot{Method: provider.BootIPXE, URL: PlaceholderBootURL}
		}
		return out, nil
	}
	byClass := map[bool]provider.Boot{}
	for role, gpu := range gpuFor {
		b, ok := byClass[gpu]
		if !ok {
			var err error
			if b, err = r.Deps.BootMedia(ctx, r, gpu); err != nil {
				return nil, fmt.Errorf("boot media (gpu %v): %w", gpu, err)
			}
			byClass[gpu] = b
		}
		out[role] = b
	}
	return out, nil
}

type servers struct {
	r      *pipeline.Run
	p      provider.Provider
	boot   map[string]provider.Boot // by role
	region string
	// network, when set, is the cluster's network each new server joins
	// as soon as it exists.
	network *provider.Network

	mu        sync.Mutex
	firstSeen map[string]time.Time // server ID -> when this run first saw it
	last      map[string]string    // node -> last reported status/IP
	// creating holds the nodes whose create has not returned yet, while
	// wait already watches the others.
	creating map[string]bool
	// reinstalls holds the servers this run reinstalled into their boot
	// media (servers_reinstall.go).
	reinstalls map[string]*reinstall
}

// inFlight says whether a node's create is still running.
func (sv *servers) inFlight(node string) bool {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return sv.creating[node]
}

func (sv *servers) seen(id string) time.Time {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	t, ok := sv.firstSeen[id]
	if !ok {
		t = sv.r.Clock.Now()
		sv.firstSeen[id] = t
	}
	return t
}

// adopt matches the cluster's servers at the provider with the journal's
// nodes, deletes servers nobody asked for, and returns the nodes that still
// need a server.
func (sv *servers) adopt(ctx context.Context) ([]string, error) {
	r, p := sv.r, sv.p
	cluster := r.Deps.Spec.Name
	listed, err := p.ListServers(ctx, cluster)
	if err != nil {
		return nil, fmt.Errorf("list the cluster's servers: %w", err)
	}
	nodes := r.Journal.NodesCopy()
	replaced := map[string]bool{}
	for _, n := range nodes {
		for _, id := range n.Replaced {
			replaced[id] = true
		}
	}
	byID := map[string]provider.Server{}
	byHost := map[string][]provider.Server{}
	for _, s := range listed {
		if s.Status == provider.StatusDeleting {
			continue
		}
		byID[s.ID] = s
		if !replaced[s.ID] {
			byHost[s.Hostname] = append(byHost[s.Hostname], s)
		}
	}
	kept := map[string]bool{}
	var missing []string
	for _, n := range nodes {
		if n.ServerID != "" {
			if _, ok := byID[n.ServerID]; ok {
				kept[n.ServerID] = true
				continue
			}
			// Not in the tagged list: look it up before giving up on it.
			s, err := p.GetServer(ctx, n.ServerID)
			switch {
			case err == nil && s.Status != provider.StatusDeleting:
				kept[n.ServerID] = true
				if tg, ok := p.(provider.Tagger); ok {
					// Journaled but not tagged: a run stopped between the
					// order and its tag.
					if err := tg.TagServer(ctx, cluster, n.ServerID); err != nil {
						return nil, fmt.Errorf("tag server %s of %s with cluster %s: %w", n.ServerID, n.Name, cluster, err)
					}
					r.Warn("%s: server %s was not tagged with cluster %s (a run stopped before it could); tagged it now", n.Name, n.ServerID, cluster)
				}
				continue
			case err != nil && !errors.Is(err, provider.ErrNotFound):
				return nil, fmt.Errorf("look up server %s of %s: %w", n.ServerID, n.Name, err)
			}
			r.Warn("%s: server %s is gone; creating a new one", n.Name, n.ServerID)
			if err := r.Journal.Update(func(j *state.Journal) { j.NodeLocked(n.Name).ServerID = "" }); err != nil {
				return nil, err
			}
			if err := r.Journal.MarkDeleted(state.KindServer, n.ServerID); err != nil {
				return nil, err
			}
		}
		if cands := byHost[n.Name]; len(cands) > 0 {
			s := cands[0]
			if err := sv.record(n.Name, s); err != nil {
				return nil, err
			}
			kept[s.ID] = true
			r.Say("%s: adopted server %s created by an earlier run", n.Name, s.ID)
			continue
		}
		missing = append(missing, n.Name)
	}
	// Anything else carrying the cluster's tag was not asked for (a
	// duplicate, a leftover replacement): it must not keep billing.
	for _, s := range listed {
		if kept[s.ID] || s.Status == provider.StatusDeleting {
			continue
		}
		r.Warn("deleting server %s (%s): it carries the cluster's tag but no node needs it", s.ID, s.Hostname)
		if err := p.DeleteServer(ctx, s.ID); err != nil {
			return nil, fmt.Errorf("delete unneeded server %s: %w", s.ID, err)
		}
		if err := r.Journal.MarkDeleted(state.KindServer, s.ID); err != nil {
			return nil, err
		}
	}
	return missing, nil
}

// record journals a node's server, before anything waits on it. Recording
// what the journal already holds writes nothing.
func (sv *servers) record(node string, s provider.Server) error {
	known := false
	sv.r.Journal.View(func(j *state.Journal) {
		n := j.NodeLocked(node)
		known = n.ServerID == s.ID && n.Status == string(s.Status) && (s.PublicIPv4 == "" || n.PublicIP == s.PublicIPv4) && !nicsChanged(*n, s) &&
			slices.ContainsFunc(j.Resources, func(res *state.Resource) bool { return res.Kind == state.KindServer && res.ID == s.ID })
	})
	if known {
		return nil
	}
	defer sv.r.NodesChanged()
	return sv.r.Journal.Update(func(j *state.Journal) {
		n := j.NodeLocked(node)
		n.ServerID, n.Status = s.ID, string(s.Status)
		if s.PublicIPv4 != "" {
			n.PublicIP = s.PublicIPv4
		}
		recordNICs(n, s)
		for _, res := range j.Resources {
			if res.Kind == state.KindServer && res.ID == s.ID {
				return
			}
		}
		j.Resources = append(j.Resources, &state.Resource{Kind: state.KindServer, ID: s.ID, Name: node, Region: sv.region,
			Status: s.RawStatus, CreatedAt: time.Now().UTC()})
	})
}

// createErrors are the failed creates of one round, under one message.
type createErrors struct {
	msg    string
	causes []error
}

func (e *createErrors) Error() string   { return e.msg }
func (e *createErrors) Unwrap() []error { return e.causes }

func (sv *servers) createAll(ctx context.Context, names []string) error {
	if len(names) == 0 {
		return nil
	}
	sv.r.Say("creating %d server(s) in %s", len(names), sv.region)
	err := fanout.Each(ctx, concurrencyFor(sv.p, len(names)), names, nil, sv.create)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var failed fanout.Errors
	if !errors.As(err, &failed) {
		return err
	}
	msg := fmt.Sprintf("%d of %d server(s) could not be created: %s", len(failed), len(names), failed)
	if errors.Is(err, provider.ErrOutOfStock) {
		return fmt.Errorf("%w: %s", provider.ErrOutOfStock, msg)
	}
	// The causes stay reachable: a refused token is told apart from a
	// provider's hiccup.
	return &createErrors{msg: msg, causes: failed}
}

func (sv *servers) create(ctx context.Context, name string) error {
	defer func() {
		sv.mu.Lock()
		delete(sv.creating, name)
		sv.mu.Unlock()
	}()
	sp := sv.r.Deps.Spec
	var role string
	sv.r.Journal.View(func(j *state.Journal) { role = j.NodeLocked(name).Role })
	spec := provider.ServerSpec{
		Cluster: sp.Name, Hostname: name, Role: provider.Role(role), Plan: planFor(sp, role),
		Region: sv.region, Project: sp.Project, Boot: sv.boot[role],
	}
	// The ID is journaled the moment the API returns it, before the
	// provider finishes the server (tag, ISO boot, rescue install).
	s, err := provider.Create(ctx, sv.p, spec, func(s provider.Server) error {
		if err := sv.record(name, s); err != nil {
			return err
		}
		sv.seen(s.ID)
		sv.r.NodeEvent(name, string(s.Status), s.PublicIPv4, "created server "+s.ID)
		return nil
	})
	if s.ID != "" {
		if jerr := sv.record(name, s); jerr != nil {
			return jerr
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if sv.network != nil {
		if err := assignServer(ctx, sv.r, *sv.network, name, s.ID); err != nil {
			// The network step assigns what is left.
			sv.r.Warn("%s: joining network %s now failed (%v); the network step tries again", name, sv.network.ID, err)
		}
	}
	return nil
}

// wait polls the whole cluster with one list call per poll until every
// node's server is ready, replacing failed or stuck ones.
func (sv *servers) wait(ctx context.Context) error {
	r, p := sv.r, sv.p
	timeout := r.Deps.ServerTimeout
	if timeout <= 0 {
		timeout = 30 * time.Minute
	}
	expected := r.Deps.ExpectedDeploy
	if expected <= 0 {
		expected = 10 * time.Minute
	}
	sv.last = map[string]string{}
	for {
		listed, err := p.ListServers(ctx, r.Deps.Spec.Name)
		if err != nil {
			return fmt.Errorf("poll the cluster's servers: %w", err)
		}
		byID := map[string]provider.Server{}
		for _, s := range listed {
			byID[s.ID] = s
		}
		ready := true
		var oldest time.Duration
		nodes := r.Journal.NodesCopy()
		observed := make([]provider.Server, len(nodes))
		for i, n := range nodes {
			s, ok := byID[n.ServerID]
			if !ok && (n.ServerID == "" || sv.inFlight(n.Name)) {
				// Not ordered yet, or not tagged yet: its create is
				// still running and tells when it is done.
				observed[i] = provider.Server{ID: n.ServerID, Status: provider.StatusPending}
				continue
			}
			if !ok {
				// Listed late (a tag not yet applied): one lookup for this node.
				got, err := p.GetServer(ctx, n.ServerID)
				switch {
				case errors.Is(err, provider.ErrNotFound):
					got = provider.Server{ID: n.ServerID, Status: provider.StatusDeleting, RawStatus: "gone"}
				case err != nil:
					return fmt.Errorf("look up server %s of %s: %w", n.ServerID, n.Name, err)
				}
				s = got
			}
			observed[i] = s
		}
		// A server up on a stock system is not up yet: it is reinstalled
		// into its media below.
		reinstallNow := make([]bool, len(nodes))
		for i := range observed {
			observed[i], reinstallNow[i] = sv.booting(observed[i])
		}
		// One journal write per poll for every change it saw.
		if err := sv.observe(nodes, observed); err != nil {
			return err
		}
		for i, n := range nodes {
			s := observed[i]
			if n.ServerID == "" || sv.inFlight(n.Name) {
				// Its create is still running: never replaced from here,
				// and the step is not done before it returns.
				ready = false
				continue
			}
			if reinstallNow[i] {
				if err := sv.reinstall(ctx, n, s); err != nil {
					return err
				}
				ready = false
				continue
			}
			elapsed := r.Clock.Now().Sub(sv.seen(s.ID))
			reason := ""
			switch {
			case s.Status == provider.StatusReady:
				continue
			case s.Status == provider.StatusFailed:
				reason = fmt.Sprintf("failed to deploy (status %s)", s.RawStatus)
			case s.Status == provider.StatusDeleting:
				reason = fmt.Sprintf("disappeared (status %s)", s.RawStatus)
			case elapsed > timeout:
				reason = fmt.Sprintf("is still %s after %s", s.RawStatus, elapsed.Round(time.Second))
			}
			ready = false
			if reason != "" {
				if err := sv.replace(ctx, n, reason); err != nil {
					return err
				}
				continue
			}
			oldest = max(oldest, elapsed)
		}
		if ready {
			return nil
		}
		if err := r.Clock.Sleep(ctx, pollInterval(oldest, expected)); err != nil {
			return err
		}
	}
}

// pollInterval is slow while deploys are far from done and fast when the
// most advanced one is about to finish.
func pollInterval(elapsed, expected time.Duration) time.Duration {
	remaining := expected - elapsed
	switch {
	case remaining > 4*time.Minute:
		return 30 * time.Second
	case remaining > 0:
		return min(max(remaining/4, 5*time.Second), 30*time.Second)
	default:
		return 10 * time.Second
	}
}

// observe journals the servers' statuses and addresses that changed since
// the last poll, in one write, and reports each change.
func (sv *servers) observe(nodes []state.Node, seen []provider.Server) error {
	var changed []int
	for i, n := range nodes {
		s := seen[i]
		key := string(s.Status) + "|" + s.RawStatus + "|" + s.PublicIPv4 + "|" + s.MAC(provider.NICPublic) + "|" + s.MAC(provider.NICPrivate)
		if sv.last[n.Name] != key {
			sv.last[n.Name] = key
			changed = append(changed, i)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	if err := sv.r.Journal.Update(func(j *state.Journal) {
		status := map[string]string{} // server ID -> the provider's status
		for _, i := range changed {
			jn, s := j.NodeLocked(nodes[i].Name), seen[i]
			jn.Status = string(s.Status)
			if s.PublicIPv4 != "" {
				jn.PublicIP = s.PublicIPv4
			}
			recordNICs(jn, s)
			if s.ID != "" && s.RawStatus != "" {
				status[s.ID] = s.RawStatus
			}
		}
		for _, res := range j.Resources {
			if st, ok := status[res.ID]; ok && res.Kind == state.KindServer {
				res.Status = st
			}
		}
	}); err != nil {
		return err
	}
	sv.r.NodesChanged()
	for _, i := range changed {
		s := seen[i]
		sv.r.NodeEvent(nodes[i].Name, string(s.Status), s.PublicIPv4, s.RawStatus)
	}
	return nil
}

// replace deletes a node's failed or stuck server and creates another. The
// old ID goes to Node.Replaced first, so destroy finds it whatever happens.
func (sv *servers) replace(ctx context.Context, n state.Node, reason string) error {
	r := sv.r
	if len(n.Replaced) >= MaxReplacements {
		return fmt.Errorf("%s: server %s %s, and it was replaced %d times already (%s); giving up: rerun to try again, or `cto destroy --name %s`",
			n.Name, n.ServerID, reason, len(n.Replaced), strings.Join(n.Replaced, ", "), r.Deps.Spec.Name)
	}
	r.Warn("%s: server %s %s; deleting it and creating a replacement (%d of %d)", n.Name, n.ServerID, reason, len(n.Replaced)+1, MaxReplacements)
	if err := r.Journal.Update(func(j *state.Journal) {
		jn := j.NodeLocked(n.Name)
		jn.Replaced = append(jn.Replaced, n.ServerID)
		jn.ServerID, jn.Status, jn.PublicIP, jn.PublicMAC, jn.PrivateMAC = "", "", "", "", ""
	}); err != nil {
		return err
	}
	r.NodesChanged()
	if err := sv.p.DeleteServer(ctx, n.ServerID); err != nil {
		return fmt.Errorf("%s: delete failed server %s: %w", n.Name, n.ServerID, err)
	}
	if err := r.Journal.MarkDeleted(state.KindServer, n.ServerID); err != nil {
		return err
	}
	// Its network assignment went with it.
	for _, a := range r.Journal.LiveResources(state.KindAssignment) {
		if a.Attrs["server_id"] == n.ServerID {
			if err := r.Journal.MarkDeleted(state.KindAssignment, a.ID); err != nil {
				return err
			}
		}
	}
	delete(sv.last, n.Name)
	return sv.create(ctx, n.Name)
}

// nicsChanged says whether the server reports NIC MACs the journal does
// not hold yet.
func nicsChanged(n state.Node, s provider.Server) bool {
	pub, priv := s.MAC(provider.NICPublic), s.MAC(provider.NICPrivate)
	return (pub != "" && pub != n.PublicMAC) || (priv != "" && priv != n.PrivateMAC)
}

// recordNICs keeps the MACs of the server's public and private NICs on
// its node, for the Talos config to select its links by.
func recordNICs(n *state.Node, s provider.Server) {
	if mac := s.MAC(provider.NICPublic); mac != "" {
		n.PublicMAC = mac
	}
	if mac := s.MAC(provider.NICPrivate); mac != "" {
		n.PrivateMAC = mac
	}
}
