package deploy

import (
	"context"
	"errors"
	"fmt"

	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/state"
)

// reinstall is a reinstall this run sent: until the server's status moves
// away from ready, a ready read is the stale one from before it.
type reinstall struct{ changed bool }

// booting says whether a server runs its boot media yet. A server up on the
// provider's stock system (ordered so because its plan refuses the media at
// order time) is pending, and reinstallNow asks for its reinstall; a server
// just reinstalled stays pending until its status has changed once, as a
// stale "on" can be read right after a reinstall.
func (sv *servers) booting(s provider.Server) (_ provider.Server, reinstallNow bool) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if ri, ok := sv.reinstalls[s.ID]; ok && !ri.changed {
		if s.Status == provider.StatusReady {
			s.Status = provider.StatusPending
			return s, false
		}
		ri.changed = true
	}
	if s.Status == provider.StatusReady && s.NeedsBoot {
		s.Status = provider.StatusPending
		return s, true
	}
	return s, false
}

// reinstall boots a node's server, up on a stock system, into its media,
// and restarts the server's deploy clock: a second deploy starts.
func (sv *servers) reinstall(ctx context.Context, n state.Node, s provider.Server) error {
	ri, ok := sv.p.(provider.Reinstaller)
	if !ok {
		return fmt.Errorf("%s: server %s runs %s's stock system and %s cannot reinstall it; delete it with `cto destroy --name %s`",
			n.Name, s.ID, sv.p.Name(), sv.p.Name(), sv.r.Deps.Spec.Name)
	}
	err := ri.Reinstall(ctx, s, sv.boot[n.Role])
	if errors.Is(err, provider.ErrInvalid) {
		// Refused for now (still provisioning, say): the next poll asks
		// again.
		sv.r.Warn("%s: reinstall of server %s refused for now (%v); trying again", n.Name, s.ID, err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", n.Name, err)
	}
	sv.mu.Lock()
	if sv.reinstalls == nil {
		sv.reinstalls = map[string]*reinstall{}
	}
	sv.reinstalls[s.ID] = &reinstall{}
	sv.firstSeen[s.ID] = sv.r.Clock.Now()
	sv.mu.Unlock()
	sv.r.NodeEvent(n.Name, string(provider.StatusPending), s.PublicIPv4, "up on a stock system; reinstalling it with the Talos media")
	return nil
}

// BootPathNote says how a plan's servers reach the Talos media, for the
// plan preview and `cto plans`; "" when the provider has one way only.
func BootPathNote(p provider.Provider, pl provider.Plan) string {
	if _, ok := p.(provider.BootPathLearner); !ok || !pl.TalosCapable {
		return ""
	}
	switch pl.BootPath {
	case provider.BootPathDirect:
		return "boots Talos by iPXE when ordered"
	case provider.BootPathReinstall:
		return "refuses iPXE when ordered: ordered with a stock system, then reinstalled with iPXE (a second deploy)"
	}
	return "tries iPXE when ordered; if the plan refuses it, orders a stock system and reinstalls it with iPXE"
}

func sayBootPath(r *pipeline.Run, pl provider.Plan) {
	if note := BootPathNote(r.Deps.Provider, pl); note != "" {
		r.Say("%s %s", pl.Slug, note)
	}
}
