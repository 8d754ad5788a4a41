package talos

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cto-platform/cto/internal/clock"
)

// Pace is how long a caller waits on nodes, on its clock: the pause between
// probes, how long a node may take to reach maintenance mode, take its
// config and prove it (also how long bootstrap retries), and how long one
// apply call may take.
type Pace struct {
	Clock        clock.Clock
	Poll         time.Duration
	NodeTimeout  time.Duration
	ApplyTimeout time.Duration
}

// ControlPlanes is how far a cluster's control planes are, as a worker
// waiting for its certificate sees them.
type ControlPlanes int

const (
	ControlPlanesComing ControlPlanes = iota // none configured, not all failed
	ControlPlanesUp                          // one runs its config, so trustd
	ControlPlanesFailed                      // every one failed this run
)

// Install is one node to bring from maintenance mode to running its
// cluster's config.
type Install struct {
	Name     string
	Address  string // the node's address, for messages
	Endpoint string // its Talos API endpoint
	Worker   bool
	// Render renders the node's config once it is in maintenance mode, and
	// names the install image the config carries.
	Render func(ctx context.Context) (config []byte, installImage string, err error)
	// Applied runs after each apply (a provider takes the boot ISO out).
	Applied func(ctx context.Context)
	// ControlPlanes says how far the control planes are (workers only).
	ControlPlanes func() ControlPlanes
	// Report tells of the node's progress.
	Report func(status, message string)
	// SilentHint explains a node that never answered at all, or "".
	SilentHint func() string
}

// InstallNode applies in's config once the node waits in maintenance mode
// and returns when the node proves, with an authenticated call, that it
// runs that config.
//
// A worker that took its config cannot prove it before a control plane is
// up: its apid starts only once the control planes' trustd issued its
// certificate (Talos: apid waits for its API certificate, which a worker
// asks trustd for), so until then it refuses connections and reads
// Unreachable. While a control plane may still come, its deadline waits;
// when every control plane failed, it fails at once saying so.
func (c *Client) InstallNode(ctx context.Context, pace Pace, in Install) error {
	clk := pace.Clock
	deadline := clk.Now().Add(pace.NodeTimeout)
	applies := 0
	var appliedAt time.Time
	last := Unreachable
	answered, waitedForCP := false, false
	installer := ""
	in.Report("waiting", "waiting for Talos maintenance mode")
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		st := c.Probe(ctx, in.Endpoint)
		if in.Worker && (applies > 0 || answered) && (st == Starting || st == Unreachable) {
			switch in.ControlPlanes() {
			case ControlPlanesComing:
				deadline = clk.Now().Add(pace.NodeTimeout)
				if !waitedForCP {
					in.Report("waiting", "took its config; waiting for a control plane to come up and issue its certificate")
				}
				waitedForCP = true
			case ControlPlanesFailed:
				return fmt.Errorf("node %s (%s) took its config, but its Talos API starts only once a control plane's trustd issued its certificate, and no control plane came up", in.Name, in.Address)
			}
		}
		if st == Maintenance && last != Maintenance && applies == 0 {
			in.Report("maintenance", "Talos is up in maintenance mode")
		}
		answered = answered || st != Unreachable
		last = st
		switch st {
		case Configured:
			return nil
		case Foreign:
			return &ForeignConfigError{Node: in.Name, Endpoint: in.Address}
		case Maintenance:
			if applies > 0 && clk.Now().Sub(appliedAt) < pace.ApplyTimeout {
				break // the node took a config and is about to install it
			}
			if applies >= 3 {
				// Its install failed and it booted the install media again.
				return fmt.Errorf("node %s (%s) took its config %d times but stays in maintenance mode: its install fails; check on its console that it can pull %s (the Image Factory must know the schematic and serve that Talos version) and that its install disk exists", in.Name, in.Address, applies, installer)
			}
			cfg, image, err := in.Render(ctx)
			if err != nil {
				return err
			}
			installer = image
			in.Report("applying", "applying machine config")
			applies++
			appliedAt = clk.Now()
			// The call's deadline is wall time: on a faster clock it
			// shrinks with it (never under a second), so a hung apply is
			// noticed before the node's own deadline on the run clock.
			switch err := c.Apply(ctx, in.Endpoint, cfg, max(clock.Wall(clk, pace.ApplyTimeout), time.Second)); {
			case errors.Is(err, ErrMaybeApplied):
				in.Report("applying", "apply timed out; checking whether the node took it")
			case err != nil:
				return fmt.Errorf("node %s (%s): %w", in.Name, in.Address, err)
			}
			if in.Applied != nil {
				in.Applied(ctx)
			}
		}
		if !clk.Now().Before(deadline) {
			if waitedForCP {
				return fmt.Errorf("node %s (%s) took its config but its Talos API did not come up within %s of a control plane coming up (last seen: %s); a worker's API starts once the control planes' trustd (port %d) issued its certificate", in.Name, in.Address, pace.NodeTimeout, last, TrustdPort)
			}
			err := fmt.Errorf("node %s (%s) answered neither in maintenance mode nor with this cluster's config within %s (last seen: %s)", in.Name, in.Address, pace.NodeTimeout, last)
			if in.SilentHint != nil && last == Unreachable && applies == 0 {
				if hint := in.SilentHint(); hint != "" {
					err = fmt.Errorf("%w; %s", err, hint)
				}
			}
			return err
		}
		if err := clk.Sleep(ctx, pace.Poll); err != nil {
			return err
		}
	}
}

// Member is a control plane as bootstrap sees it.
type Member struct {
	Name, Address, Endpoint string
}

// BootstrapRecord keeps a bootstrap's progress where it outlives the
// process: "" (not begun), "intent:<node>" (about to call it on node) or
// "done".
type BootstrapRecord struct {
	Load func() string
	Save func(string) error
}

// BootstrapDone is the record of a cluster whose etcd runs.
const BootstrapDone = "done"

// BootstrapOnce starts etcd on one control plane, exactly once over any
// number of runs: the intent is recorded before the call, and a control
// plane that already has etcd members means it happened. An earlier run's
// intent is kept, so two nodes never both start an etcd cluster. report
// says what it does: status "bootstrapping" when it calls Bootstrap,
// "running" when etcd already ran.
func (c *Client) BootstrapOnce(ctx context.Context, pace Pace, cps []Member, rec BootstrapRecord, report func(node Member, status, msg string)) error {
	fact := rec.Load()
	if fact == BootstrapDone {
		return nil
	}
	if len(cps) == 0 {
		return errors.New("no control plane to bootstrap")
	}
	for _, cp := range cps {
		if members, err := c.EtcdMembers(ctx, cp.Endpoint); err == nil && members > 0 {
			report(cp, "running", "etcd already runs on "+cp.Name+"; not bootstrapping again")
			return rec.Save(BootstrapDone)
		}
	}
	target := cps[0]
	if name, ok := strings.CutPrefix(fact, bootstrapIntent); ok {
		for _, cp := range cps {
			if cp.Name == name {
				target = cp
			}
		}
	}
	if err := rec.Save(bootstrapIntent + target.Name); err != nil {
		return err
	}
	deadline := pace.Clock.Now().Add(pace.NodeTimeout)
	report(target, "bootstrapping", "starting etcd")
	for {
		err := c.Bootstrap(ctx, target.Endpoint)
		if err == nil {
			break
		}
		if !RetryableBootstrap(err) || ctx.Err() != nil {
			return fmt.Errorf("bootstrap %s (%s): %w", target.Name, target.Address, err)
		}
		if !pace.Clock.Now().Before(deadline) {
			return fmt.Errorf("bootstrap %s (%s): still refused after %s: %w", target.Name, target.Address, pace.NodeTimeout, err)
		}
		if err := pace.Clock.Sleep(ctx, pace.Poll); err != nil {
			return err
		}
	}
	return rec.Save(BootstrapDone)
}

const bootstrapIntent = "intent:"
