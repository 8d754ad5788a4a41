// Package dns manages a cluster's DNS records at a DNS provider through the
// libdns interfaces, so each DNS provider is one adapter. Every record cto
// creates carries a comment naming its cluster ("cto-cluster=<name>"):
// reruns adopt their own records, and destroy removes exactly those.
package dns

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/libdns/libdns"
)

// TTL of the records cto creates.
const TTL = 5 * time.Minute

// APIName is the DNS name of a cluster's Kubernetes API endpoint: it goes
// into the API server's certificate (Talos SANs) and the kubeconfig.
func APIName(cluster, domain string) string { return "api." + cluster + "." + trim(domain) }

// AppsName is the wildcard name of the cluster's ingress.
func AppsName(cluster, domain string) string { return "*." + cluster + "." + trim(domain) }

// Owner is the comment marking a record as a cluster's.
func Owner(cluster string) string { return "cto-cluster=" + cluster }

func trim(name string) string { return strings.TrimSuffix(strings.ToLower(name), ".") }

// Provider is a DNS provider adapter: the libdns interfaces cto uses.
// Adapters written for cto put a Meta in the ProviderData of the records
// they return and honour Meta.Comment on the records they create.
type Provider interface {
	libdns.RecordGetter
	libdns.RecordAppender
	libdns.RecordDeleter
}

// Authenticator is a provider that can prove its credentials with one
// cheap read, before anything is bought.
type Authenticator interface {
	Authenticate(ctx context.Context) error
}

// Errors adapters wrap so callers can tell the user's mistakes apart.
var (
	// ErrUnauthorized: the provider refused the credentials.
	ErrUnauthorized = errors.New("the DNS provider refused the credentials")
	// ErrNoZone: the account holds no zone for the domain.
	ErrNoZone = errors.New("no zone")
)

// Meta is what cto's adapters carry in a libdns record's ProviderData: the
// provider's record ID and the record's comment.
type Meta struct {
	ID      string
	Comment string
}

// Record is one address record.
type Record struct {
	// Name is the fully qualified name, without the trailing dot.
	Name string `json:"name"`
	// Type is A or AAAA.
	Type    string `json:"type"`
	Value   string `json:"value"`
	ID      string `json:"id,omitempty"`
	Comment string `json:"comment,omitempty"`
}

func (r Record) String() string { return r.Name + " " + r.Type + " " + r.Value }

func (r Record) key() string { return r.Name + "|" + r.Type + "|" + r.Value }

// Address returns the A (IPv4) or AAAA record of name pointing at ip.
func Address(name, ip, comment string) (Record, error) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return Record{}, fmt.Errorf("%s: %q is not an IP address", name, ip)
	}
	typ := "AAAA"
	if a.Is4() || a.Is4In6() {
		typ, a = "A", a.Unmap()
	}
	return Record{Name: trim(name), Type: typ, Value: a.String(), Comment: comment}, nil
}

// Zone is one zone at a provider.
type Zone struct {
	Provider Provider
	// Name is the zone's name without the trailing dot, e.g. example.com.
	Name string
}

// FindZone returns the zone at p that holds domain: the longest zone that
// is domain or one of its parents, when p can list zones; else domain.
func FindZone(ctx context.Context, p Provider, domain string) (Zone, error) {
	domain = trim(domain)
	lister, ok := p.(libdns.ZoneLister)
	if !ok {
		return Zone{Provider: p, Name: domain}, nil
	}
	zones, err := lister.ListZones(ctx)
	if err != nil {
		return Zone{}, fmt.Errorf("list DNS zones: %w", err)
	}
	best := ""
	for _, z := range zones {
		name := trim(z.Name)
		if (domain == name || strings.HasSuffix(domain, "."+name)) && len(name) > len(best) {
			best = name
		}
	}
	if best == "" {
		return Zone{}, fmt.Errorf("%w for %s in the DNS account; add the zone first or use a domain it holds", ErrNoZone, domain)
	}
	return Zone{Provider: p, Name: best}, nil
}

// Records returns every address record of the zone.
func (z Zone) Records(ctx context.Context) ([]Record, error) {
	recs, err := z.Provider.GetRecords(ctx, z.Name+".")
	if err != nil {
		return nil, fmt.Errorf("list DNS records of %s: %w", z.Name, err)
	}
	var out []Record
	for _, lr := range recs {
		rr := lr.RR()
		if rr.Type != "A" && rr.Type != "AAAA" {
			continue
		}
		r := Record{Name: trim(libdns.AbsoluteName(rr.Name, z.Name+".")), Type: rr.Type, Value: rr.Data}
		if a, ok := lr.(libdns.Address); ok {
			r.Value = a.IP.String()
			if m, ok := a.ProviderData.(Meta); ok {
				r.ID, r.Comment = m.ID, m.Comment
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// Owned returns the zone's records whose comment is owner.
func (z Zone) Owned(ctx context.Context, owner string) ([]Record, error) {
	all, err := z.Records(ctx)
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, r := range all {
		if r.Comment == owner {
			out = append(out, r)
		}
	}
	return out, nil
}

// ConflictError is a name cto wants that already has records someone else
// made.
type ConflictError struct {
	Name  string
	Owner string
	Found []Record
}

func (e *ConflictError) Error() string {
	var vals []string
	for _, r := range e.Found {
		vals = append(vals, r.Type+" "+r.Value)
	}
	return fmt.Sprintf("%s already has records not made by this cluster (%s); remove them or choose another cluster name or domain",
		e.Name, strings.Join(vals, ", "))
}

// Changes is what Ensure did.
type Changes struct {
	// Kept are wanted records that already existed (adopted on a rerun).
	Kept []Record
	// Created are the records made now.
	Created []Record
	// Removed are the owner's records of the wanted names that are no
	// longer wanted (a replaced node's address).
	Removed []Record
}

// Ensure makes the zone hold exactly want for want's names, all marked with
// owner: existing matches are kept, missing ones created (onCreate is
// called after each, so its ID can be journaled at once), and the owner's
// stale records of those names removed. A wanted name holding records of
// anyone else is a *ConflictError and nothing is changed.
func (z Zone) Ensure(ctx context.Context, owner string, want []Record, onCreate func(Record) error) (Changes, error) {
	var ch Changes
	existing, err := z.Records(ctx)
	if err != nil {
		return ch, err
	}
	wantNames := map[string]bool{}
	wantKeys := map[string]bool{}
	for _, r := range want {
		wantNames[r.Name] = true
		wantKeys[r.key()] = true
	}
	have := map[string]Record{}
	foreign := map[string][]Record{}
	for _, r := range existing {
		if !wantNames[r.Name] {
			continue
		}
		if r.Comment != owner {
			foreign[r.Name] = append(foreign[r.Name], r)
			continue
		}
		have[r.key()] = r
		if !wantKeys[r.key()] {
			ch.Removed = append(ch.Removed, r)
		}
	}
	if len(foreign) > 0 {
		names := make([]string, 0, len(foreign))
		for n := range foreign {
			names = append(names, n)
		}
		sort.Strings(names)
		return ch, &ConflictError{Name: names[0], Owner: owner, Found: foreign[names[0]]}
	}
	for _, r := range want {
		if old, ok := have[r.key()]; ok {
			ch.Kept = append(ch.Kept, old)
			continue
		}
		r.Comment = owner
		made, err := z.create(ctx, r)
		if err != nil {
			return ch, err
		}
		ch.Created = append(ch.Created, made)
		if onCreate != nil {
			if err := onCreate(made); err != nil {
				return ch, err
			}
		}
	}
	if len(ch.Removed) > 0 {
		if err := z.Delete(ctx, ch.Removed); err != nil {
			return ch, err
		}
	}
	return ch, nil
}

func (z Zone) create(ctx context.Context, r Record) (Record, error) {
	lr, err := r.libdns(z.Name)
	if err != nil {
		return Record{}, err
	}
	made, err := z.Provider.AppendRecords(ctx, z.Name+".", []libdns.Record{lr})
	if err != nil {
		return Record{}, fmt.Errorf("create DNS record %s: %w", r, err)
	}
	if len(made) != 1 {
		return Record{}, fmt.Errorf("create DNS record %s: the provider returned %d records", r, len(made))
	}
	if a, ok := made[0].(libdns.Address); ok {
		if m, ok := a.ProviderData.(Meta); ok {
			r.ID = m.ID
		}
	}
	return r, nil
}

// Delete removes records (by ID where known). Records already gone are not
// an error.
func (z Zone) Delete(ctx context.Context, recs []Record) error {
	var errs []error
	for _, r := range recs {
		lr, err := r.libdns(z.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := z.Provider.DeleteRecords(ctx, z.Name+".", []libdns.Record{lr}); err != nil {
			errs = append(errs, fmt.Errorf("delete DNS record %s: %w", r, err))
		}
	}
	return errors.Join(errs...)
}

func (r Record) libdns(zone string) (libdns.Address, error) {
	ip, err := netip.ParseAddr(r.Value)
	if err != nil {
		return libdns.Address{}, fmt.Errorf("DNS record %s: %q is not an IP address", r.Name, r.Value)
	}
	return libdns.Address{
		Name:         libdns.RelativeName(r.Name+".", zone+"."),
		TTL:          TTL,
		IP:           ip,
		ProviderData: Meta{ID: r.ID, Comment: r.Comment},
	}, nil
}

// ClusterRecords are the records of a cluster: api.<cluster>.<domain> to
// every control plane's public address and *.<cluster>.<domain> to every
// node serving ingress.
func ClusterRecords(cluster, domain string, controlPlaneIPs, ingressIPs []string) ([]Record, error) {
	var out []Record
	add := func(name string, ips []string) error {
		seen := map[string]bool{}
		for _, ip := range ips {
			r, err := Address(name, ip, "")
			if err != nil {
				return err
			}
			if !seen[r.key()] {
				seen[r.key()] = true
				out = append(out, r)
			}
		}
		return nil
	}
	if err := add(APIName(cluster, domain), controlPlaneIPs); err != nil {
		return nil, err
	}
	if err := add(AppsName(cluster, domain), ingressIPs); err != nil {
		return nil, err
	}
	return out, nil
}
