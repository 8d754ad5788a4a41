// Package destroy finds everything a cluster keeps at its provider and in
// DNS, by the journal and by the cluster's tag, so nothing is left billing
// when the journal is lost, and removes it, journaling each deletion so an
// interrupted destroy resumes.
package destroy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cto-platform/cto/internal/dns"
	"github.com/cto-platform/cto/internal/events"
	"github.com/cto-platform/cto/internal/fanout"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/state"
)

// Plan is everything `cto destroy` will remove, found in the journal and,
// so a lost journal still leaves nothing billing, by the cluster's tag.
type Plan struct {
	Servers  []provider.Server  `json:"servers"`
	Networks []provider.Network `json:"networks"`
	// LoadBalancers are the API load balancers the journal records at a
	// provider that has them (provider.APILoadBalancer).
	LoadBalancers []LoadBalancer `json:"load_balancers,omitempty"`
	// DNSRecords is filled by FindDNS when the cluster has a domain.
	DNSRecords []dns.Record `json:"dns_records,omitempty"`
}

// LoadBalancer is a load balancer destroy removes.
type LoadBalancer struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Region string `json:"region,omitempty"`
}

// Empty reports whether there is nothing to remove.
func (p Plan) Empty() bool {
	return len(p.Servers) == 0 && len(p.Networks) == 0 && len(p.LoadBalancers) == 0 && len(p.DNSRecords) == 0
}

// Find lists what belongs to the cluster at the provider: by the cluster's
// tag, by the IDs in the journal, and by the journal's hostnames.
func Find(ctx context.Context, p provider.Provider, cluster string, j *state.Journal) (Plan, error) {
	var plan Plan
	listed, err := p.ListServers(ctx, cluster)
	if err != nil {
		return plan, fmt.Errorf("list the cluster's servers: %w", err)
	}
	seen := map[string]bool{}
	add := func(s provider.Server) {
		// A server on its way out is skipped only once we asked for its
		// deletion: a provider may report a reinstall as disk erasing.
		if seen[s.ID] || (s.Status == provider.StatusDeleting && deletionSent(j, s.ID)) {
			return
		}
		seen[s.ID] = true
		plan.Servers = append(plan.Servers, s)
	}
	for _, s := range listed {
		add(s)
	}
	// Servers the journal knows but the tag search missed (a tag that did
	// not stick, a provider whose list lags behind a create).
	for _, id := range journalServerIDs(j) {
		if seen[id] {
			continue
		}
		s, err := p.GetServer(ctx, id)
		if errors.Is(err, provider.ErrNotFound) {
			continue
		}
		if err != nil {
			return plan, fmt.Errorf("look up server %s: %w", id, err)
		}
		add(s)
	}
	if finder, ok := p.(provider.ServerFinder); ok && j != nil {
		covered := map[string]bool{}
		for _, s := range plan.Servers {
			covered[s.Hostname] = true
		}
		var lost []string
		for _, n := range j.NodesCopy() {
			if !covered[n.Name] {
				lost = append(lost, n.Name)
			}
		}
		if len(lost) > 0 {
			found, err := finder.FindServers(ctx, cluster, lost)
			if err != nil {
				return plan, fmt.Errorf("look up servers by hostname: %w", err)
			}
			for _, s := range found {
				add(s)
			}
		}
	}
	nets, err := p.ListNetworks(ctx, cluster)
	if err != nil {
		return plan, fmt.Errorf("list the cluster's networks: %w", err)
	}
	seenNet := map[string]bool{}
	for _, n := range nets {
		seenNet[n.ID] = true
		plan.Networks = append(plan.Networks, n)
	}
	if j != nil {
		for _, r := range j.LiveResources(state.KindNetwork) {
			if !seenNet[r.ID] {
				// The list may filter by description; trust the journal.
				seenNet[r.ID] = true
				plan.Networks = append(plan.Networks, provider.Network{ID: r.ID, Name: r.Name, Region: r.Region})
			}
		}
	}
	if _, ok := p.(provider.APILoadBalancer); ok && j != nil {
		// The list shown before asking is everything that will go.
		for _, r := range j.LiveResources(state.KindLoadBalancer) {
			plan.LoadBalancers = append(plan.LoadBalancers, LoadBalancer{ID: r.ID, Name: r.Name, Region: r.Region})
		}
	}
	sort.Slice(plan.Servers, func(a, b int) bool { return plan.Servers[a].Hostname < plan.Servers[b].Hostname })
	return plan, nil
}

// deletionSent reports whether the journal records deleting server id.
func deletionSent(j *state.Journal, id string) bool {
	if j == nil {
		return false
	}
	done := false
	j.View(func(j *state.Journal) {
		for _, r := range j.Resources {
			if r.Kind == state.KindServer && r.ID == id && !r.DeletedAt.IsZero() {
				done = true
			}
		}
	})
	return done
}

func journalServerIDs(j *state.Journal) []string {
	if j == nil {
		return nil
	}
	var ids []string
	j.View(func(j *state.Journal) {
		for _, n := range j.Nodes {
			if n.ServerID != "" {
				ids = append(ids, n.ServerID)
			}
			ids = append(ids, n.Replaced...)
		}
		for _, r := range j.Resources {
			if r.Kind == state.KindServer && r.DeletedAt.IsZero() {
				ids = append(ids, r.ID)
			}
		}
	})
	return ids
}

// Execute removes what plan lists: servers first (concurrently, at
// most limit at a time), then networks. Each deletion is journaled, so an
// interrupted destroy resumes.
func Execute(ctx context.Context, p provider.Provider, j *state.Journal, plan Plan, limit int, sink events.Sink) error {
	if limit < 1 {
		limit = 4
	}
	if sink == nil {
		sink = events.Discard
	}
	var failed []string
	serverName := func(s provider.Server) string { return fmt.Sprintf("server %s (%s)", s.ID, s.Hostname) }
	err := fanout.Each(ctx, limit, plan.Servers, serverName, func(ctx context.Context, s provider.Server) error {
		if err := p.DeleteServer(ctx, s.ID); err != nil && !errors.Is(err, provider.ErrNotFound) {
			return err
		}
		if j != nil {
			if err := j.MarkDeleted(state.KindServer, s.ID); err != nil {
				return fmt.Errorf("deleted, but not journaled as deleted: %w", err)
			}
		}
		sink.Emit(events.Event{Time: time.Now(), Type: events.NodeUpdate, Step: "destroy", Node: s.Hostname, Status: "deleted", IP: s.PublicIPv4, Message: "server " + s.ID})
		return nil
	})
	if each := fanout.Errors(nil); errors.As(err, &each) {
		for _, e := range each {
			failed = append(failed, e.Error())
		}
	}
	if ctx.Err() != nil {
		failed = append(failed, "servers left untried: "+context.Cause(ctx).Error())
	}
	for _, n := range plan.Networks {
		err := p.DeleteNetwork(ctx, n.ID)
		if err != nil && !errors.Is(err, provider.ErrNotFound) {
			failed = append(failed, fmt.Sprintf("network %s (%s): %v", n.ID, n.Name, err))
			continue
		}
		if j != nil {
			err := j.MarkDeleted(state.KindNetwork, n.ID)
			for _, a := range j.LiveResources(state.KindAssignment) {
				if a.Attrs["network_id"] == n.ID {
					err = errors.Join(err, j.MarkDeleted(state.KindAssignment, a.ID))
				}
			}
			if err != nil {
				failed = append(failed, fmt.Sprintf("network %s (%s) deleted, but not journaled as deleted: %v", n.ID, n.Name, err))
			}
		}
		sink.Emit(events.Event{Time: time.Now(), Type: events.Message, Step: "destroy", Message: fmt.Sprintf("deleted network %s (%s)", n.Name, n.ID)})
	}
	if lbp, ok := p.(provider.APILoadBalancer); ok {
		for _, lb := range plan.LoadBalancers {
			if err := lbp.DeleteLoadBalancer(ctx, lb.ID); err != nil && !errors.Is(err, provider.ErrNotFound) {
				failed = append(failed, fmt.Sprintf("load balancer %s (%s): %v", lb.ID, lb.Name, err))
				continue
			}
			if j != nil {
				if err := j.MarkDeleted(state.KindLoadBalancer, lb.ID); err != nil {
					failed = append(failed, fmt.Sprintf("load balancer %s (%s) deleted, but not journaled as deleted: %v", lb.ID, lb.Name, err))
				}
			}
			sink.Emit(events.Event{Time: time.Now(), Type: events.Message, Step: "destroy", Message: fmt.Sprintf("deleted load balancer %s (%s)", lb.Name, lb.ID)})
		}
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		return fmt.Errorf("could not delete %d resource(s), which may still be billing: %s; run `cto destroy` again", len(failed), strings.Join(failed, "; "))
	}
	return nil
}
