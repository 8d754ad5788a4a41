package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cto-platform/cto/internal/dns"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
)

type dnsStep struct{}

func (dnsStep) Name() string { return StepDNS }

func (dnsStep) Skip(r *pipeline.Run) (string, bool) {
	s := r.Deps.Spec
	if s.DNS.Domain == "" {
		return "no --domain", true
	}
	if !s.NeedsMachines() {
		return "provider " + s.Provider + " has no public node addresses to publish", true
	}
	return "", false
}

func (dnsStep) DryRun(ctx context.Context, r *pipeline.Run) error {
	s := r.Deps.Spec
	r.Say("would point %s at the control planes and %s at the nodes serving ingress (%s, zone of %s), marked %q",
		dns.APIName(s.Name, s.DNS.Domain), dns.AppsName(s.Name, s.DNS.Domain), s.DNS.Provider, s.DNS.Domain, dns.Owner(s.Name))
	return nil
}

func (dnsStep) Run(ctx context.Context, r *pipeline.Run) error {
	s := r.Deps.Spec
	if err := ensureRecords(ctx, r, func(dns.Record) bool { return true }); err != nil {
		return err
	}
	return r.Journal.SetFacts(func(f *state.Facts) { f.DNSAPIName = dns.APIName(s.Name, s.DNS.Domain) })
}

// publishAPIName creates the API endpoint's records as soon as the control
// planes' addresses are known, before any node takes its config: with
// --domain the configs name the cluster endpoint by its DNS name, and a
// worker finds trustd and the API server through that name only
// (KubePrism's first upstream is the cluster endpoint), so it joins once
// the name resolves. The ingress records wait for the dns step.
func publishAPIName(ctx context.Context, r *pipeline.Run) error {
	s := r.Deps.Spec
	if _, skip := (dnsStep{}).Skip(r); skip {
		return nil
	}
	api := dns.APIName(s.Name, s.DNS.Domain)
	return ensureRecords(ctx, r, func(rec dns.Record) bool { return rec.Name == api })
}

// ensureRecords makes the zone hold the cluster's records that keep says
// are wanted now, journaling each record's ID as it is created.
func ensureRecords(ctx context.Context, r *pipeline.Run, keep func(dns.Record) bool) error {
	s := r.Deps.Spec
	if r.Deps.DNS == nil {
		return fmt.Errorf("no DNS provider is wired for --dns-provider %s", s.DNS.Provider)
	}
	all, err := clusterRecords(r)
	if err != nil {
		return err
	}
	var want []dns.Record
	for _, rec := range all {
		if keep(rec) {
			want = append(want, rec)
		}
	}
	zone, err := dns.FindZone(ctx, r.Deps.DNS, s.DNS.Domain)
	if err != nil {
		return err
	}
	journal := func(rec dns.Record) error { return r.Journal.AddResource(dnsResource(rec, zone.Name, s.DNS.Provider)) }
	ch, err := zone.Ensure(ctx, dns.Owner(s.Name), want, journal)
	if err != nil {
		return err
	}
	// Records an earlier run made are journaled again, in case that run's
	// journal entry was lost between create and save.
	for _, rec := range ch.Kept {
		if err := journal(rec); err != nil {
			return err
		}
	}
	for _, rec := range ch.Removed {
		if err := r.Journal.MarkDeleted(state.KindDNSRecord, rec.ID); err != nil {
			return err
		}
	}
	for _, rec := range ch.Created {
		r.Say("created %s", rec)
	}
	if len(ch.Removed) > 0 {
		r.Say("removed %d outdated record(s)", len(ch.Removed))
	}
	if len(ch.Created) == 0 && len(ch.Removed) == 0 {
		r.Say("all %d record(s) already in place", len(ch.Kept))
	}
	return nil
}

// checkDNS proves, before anything is bought, that the DNS provider takes
// the credentials and holds a zone for the domain. Both failures are the
// user's input (exit 2).
func checkDNS(ctx context.Context, r *pipeline.Run) error {
	s := r.Deps.Spec
	if s.DNS.Domain == "" || r.Deps.DNS == nil {
		return nil
	}
	if a, ok := r.Deps.DNS.(dns.Authenticator); ok {
		if err := a.Authenticate(ctx); err != nil {
			if errors.Is(err, dns.ErrUnauthorized) {
				return &spec.Error{Field: "dns.provider", Value: s.DNS.Provider, Reason: "refused the API token; check it may edit DNS records of " + s.DNS.Domain}
			}
			return fmt.Errorf("check the DNS provider's credentials: %w", err)
		}
	}
	if _, err := dns.FindZone(ctx, r.Deps.DNS, s.DNS.Domain); err != nil {
		if errors.Is(err, dns.ErrNoZone) {
			return &spec.Error{Field: "dns.domain", Value: s.DNS.Domain, Reason: "is in no zone of the DNS account; add the zone or use a domain it holds"}
		}
		if errors.Is(err, dns.ErrUnauthorized) {
			return &spec.Error{Field: "dns.provider", Value: s.DNS.Provider, Reason: "refused the API token; check it may read zones and edit DNS records"}
		}
		return err
	}
	return nil
}

// clusterRecords derives the wanted records from the journal's nodes:
// control planes (or their load balancer) for the API, workers (or the control planes when there
// are none) for ingress.
func clusterRecords(r *pipeline.Run) ([]dns.Record, error) {
	s := r.Deps.Spec
	var cps, workers, missing []string
	for _, n := range r.Journal.NodesCopy() {
		if n.PublicIP == "" {
			missing = append(missing, n.Name)
			continue
		}
		if n.Role == string(provider.RoleControlPlane) {
			cps = append(cps, n.PublicIP)
		} else {
			workers = append(workers, n.PublicIP)
		}
	}
	if len(missing) > 0 {
		r.Warn("no public address journaled for %s; left out of DNS", strings.Join(missing, ", "))
	}
	if len(cps) == 0 {
		return nil, errors.New("no control plane has a public address in the journal; run the servers step first")
	}
	ingress := workers
	if len(ingress) == 0 {
		ingress = cps
	}
	api := cps
	if lb := r.Journal.FactsCopy().APILoadBalancer; lb != "" {
		// The provider's load balancer is the API endpoint.
		api = []string{lb}
	}
	return dns.ClusterRecords(s.Name, s.DNS.Domain, api, ingress)
}

func dnsResource(rec dns.Record, zone, provider string) state.Resource {
	return state.Resource{
		Kind: state.KindDNSRecord, ID: rec.ID, Name: rec.Name,
		Attrs: map[string]string{"type": rec.Type, "value": rec.Value, "zone": zone, "provider": provider},
	}
}
