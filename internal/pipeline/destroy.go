package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/cto-platform/cto/internal/dns"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/state"
)

// Resource kinds the journal records.
const (
	KindServer     = "server"
	KindNetwork    = "network"
	KindAssignment = "network_assignment"
	KindDNSRecord  = "dns_record"
)

// DestroyPlan is everything `cto destroy` will remove, found in the journal
// and, so a lost journal still leaves nothing billing, by the cluster's tag.
type DestroyPlan struct {
	Servers  []provider.Server  `json:"servers"`
	Networks []provider.Network `json:"networks"`
	// DNSRecords is filled by PlanDestroyDNS when the cluster has a domain.
	DNSRecords []dns.Record `json:"dns_records,omitempty"`
}

// Empty reports whether there is nothing to remove.
func (p DestroyPlan) Empty() bool {
	return len(p.Servers) == 0 && len(p.Networks) == 0 && len(p.DNSRecords) == 0
}

// PlanDestroy lists what belongs to the cluster at the provider.
func PlanDestroy(ctx context.Context, p provider.Provider, cluster string, j *state.Journal) (DestroyPlan, error) {
	var plan DestroyPlan
	listed, err := p.ListServers(ctx, cluster)
	if err != nil {
		return plan, fmt.Errorf("list the cluster's servers: %w", err)
	}
	seen := map[string]bool{}
	for _, s := range listed {
		if s.Status == provider.StatusDeleting {
			continue
		}
		seen[s.ID] = true
		plan.Servers = append(plan.Servers, s)
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
		if s.Status == provider.StatusDeleting {
			continue
		}
		seen[id] = true
		plan.Servers = append(plan.Servers, s)
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
		for _, r := range j.LiveResources(KindNetwork) {
			if !seenNet[r.ID] {
				// The list may filter by description; trust the journal.
				seenNet[r.ID] = true
				plan.Networks = append(plan.Networks, provider.Network{ID: r.ID, Name: r.Name, Region: r.Region})
			}
		}
	}
	sort.Slice(plan.Servers, func(a, b int) bool { return plan.Servers[a].Hostname < plan.Servers[b].Hostname })
	return plan, nil
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
			if r.Kind == KindServer && r.DeletedAt.IsZero() {
				ids = append(ids, r.ID)
			}
		}
	})
	return ids
}

// ExecuteDestroy removes what plan lists: servers first (concurrently, at
// most limit at a time), then networks. Each deletion is journaled, so an
// interrupted destroy resumes.
func ExecuteDestroy(ctx context.Context, p provider.Provider, j *state.Journal, plan DestroyPlan, limit int, events Sink) error {
	if limit < 1 {
		limit = 4
	}
	if events == nil {
		events = Discard
	}
	var mu sync.Mutex
	var failed []string
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for _, s := range plan.Servers {
		wg.Add(1)
		sem <- struct{}{}
		go func(s provider.Server) {
			defer wg.Done()
			defer func() { <-sem }()
			err := p.DeleteServer(ctx, s.ID)
			if err != nil && !errors.Is(err, provider.ErrNotFound) {
				mu.Lock()
				failed = append(failed, fmt.Sprintf("server %s (%s): %v", s.ID, s.Hostname, err))
				mu.Unlock()
				return
			}
			if j != nil {
				j.MarkDeleted(KindServer, s.ID)
			}
			events.Emit(Event{Type: NodeUpdate, Step: "destroy", Node: s.Hostname, Status: "deleted", IP: s.PublicIPv4})
		}(s)
	}
	wg.Wait()
	for _, n := range plan.Networks {
		err := p.DeleteNetwork(ctx, n.ID)
		if err != nil && !errors.Is(err, provider.ErrNotFound) {
			failed = append(failed, fmt.Sprintf("network %s (%s): %v", n.ID, n.Name, err))
			continue
		}
		if j != nil {
			j.MarkDeleted(KindNetwork, n.ID)
		}
		events.Emit(Event{Type: Message, Step: "destroy", Message: fmt.Sprintf("deleted network %s (%s)", n.Name, n.ID)})
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		return fmt.Errorf("could not delete %d resource(s), which may still be billing: %s; run `cto destroy` again", len(failed), strings.Join(failed, "; "))
	}
	return nil
}
