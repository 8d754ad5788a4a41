package license

import (
	"fmt"
	"time"

	"github.com/cto-platform/cto/internal/spec"
)

// Grace is how long after expiry new deploys still go ahead, with a warning.
const Grace = 7 * 24 * time.Hour

// warnBefore are the days before expiry from which deploys warn.
var warnBefore = []int{7, 14, 30}

// Request is what a deploy asks the license for.
type Request struct {
	// Provider is the --provider value.
	Provider string
	// Nodes counts every node, control planes included.
	Nodes int
	// GPU is a deploy with GPU nodes.
	GPU bool
}

// source is where the deploy's nodes come from.
func (r Request) source() spec.Source { return spec.SourceOf(r.Provider) }

// Phase is where a license stands on its way to expiry.
type Phase int

const (
	Valid      Phase = iota // more than 30 days left
	Expiring30              // 30 days or fewer left
	Expiring14              // 14 days or fewer left
	Expiring7               // 7 days or fewer left
	InGrace                 // expired, within the 7-day grace
	Expired                 // expired and past the grace: new deploys are refused
)

// PhaseAt returns where l stands at now.
func (l *License) PhaseAt(now time.Time) Phase {
	switch {
	case !now.Before(l.ExpiresAt.Add(Grace)):
		return Expired
	case !now.Before(l.ExpiresAt):
		return InGrace
	}
	left := l.ExpiresAt.Sub(now)
	for i, days := range warnBefore {
		if left <= time.Duration(days)*24*time.Hour {
			return Expiring7 - Phase(i)
		}
	}
	return Valid
}

const dateFormat = "2006-01-02"

// Check applies the license rules to a deploy at now. A nil license is the
// Free tier. It returns warnings to show (expiry ahead, grace) and a
// *Error with Problem Refused when the deploy is not allowed.
func Check(l *License, req Request, now time.Time) (warnings []string, err error) {
	if l == nil {
		if req.source() == spec.Existing {
			return nil, nil
		}
		if req.source() == spec.Servers {
			return nil, problem(Refused, "provider %s needs a license: without one cto runs as the Free tier, which covers local clusters only; pass --license FILE (a Starter license covers 1 node, Team 3, Business 10)", req.Provider)
		}
		if req.Nodes > Free.MaxNodes() {
			return nil, problem(Refused, "%d nodes exceed the Free tier's limit of %d local nodes; %s", req.Nodes, Free.MaxNodes(), fitting(req.Nodes))
		}
		if req.GPU {
			return nil, problem(Refused, "GPU nodes need a Business or Enterprise license; the Free tier does not cover them")
		}
		return nil, nil
	}

	name := l.Tier.Title()
	switch l.PhaseAt(now) {
	case Expired:
		return nil, problem(Refused, "the %s license %s expired on %s and its 7-day grace ended on %s; new deploys are refused until it is renewed (destroy, status and kubeconfig still work)",
			name, printable(l.ID), l.ExpiresAt.UTC().Format(dateFormat), l.ExpiresAt.Add(Grace).UTC().Format(dateFormat))
	case InGrace:
		warnings = append(warnings, fmt.Sprintf("the %s license %s expired on %s; new deploys are refused after %s: renew it now",
			name, printable(l.ID), l.ExpiresAt.UTC().Format(dateFormat), l.ExpiresAt.Add(Grace).UTC().Format(dateFormat)))
	case Expiring7, Expiring14, Expiring30:
		days := int((l.ExpiresAt.Sub(now) + 24*time.Hour - 1) / (24 * time.Hour))
		warnings = append(warnings, fmt.Sprintf("the %s license %s expires on %s (in %d day%s); renew it to keep deploying",
			name, printable(l.ID), l.ExpiresAt.UTC().Format(dateFormat), days, plural(days)))
	}

	if req.GPU && l.Tier.rank() < Business.rank() {
		return warnings, problem(Refused, "GPU nodes need a Business or Enterprise license; this one is %s", name)
	}
	limit := l.NodeLimit()
	if req.source() == spec.Local && limit > 0 && limit < Free.MaxNodes() {
		limit = Free.MaxNodes() // local clusters are free up to the Free tier's limit anyway
	}
	if req.source() != spec.Existing && limit > 0 && req.Nodes > limit {
		if l.MaxNodes > 0 {
			// One rule: a license that names its own max_nodes is held to
			// it, whatever its tier covers; only a new license helps.
			return warnings, problem(Refused, "%d nodes exceed the %s license's limit of %d (the max_nodes it was issued with); ask for a license that covers %d nodes", req.Nodes, name, limit, req.Nodes)
		}
		return warnings, problem(Refused, "%d nodes exceed the %s license's limit of %d; %s", req.Nodes, name, limit, fitting(req.Nodes))
	}
	return warnings, nil
}

// fitting names the smallest paid tier whose own limit covers n nodes.
func fitting(n int) string {
	for _, t := range Tiers[1:] {
		if m := t.MaxNodes(); m == 0 {
			return fmt.Sprintf("an %s license covers any number of nodes unless it was issued with a lower max_nodes", t.Title())
		} else if n <= m {
			return fmt.Sprintf("a %s license covers up to %d", t.Title(), m)
		}
	}
	return ""
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Secret name and namespace the platform step stores the license in.
const (
	SecretName      = "cto-license"
	SecretNamespace = "cto"
)

// SecretData is the data of the cluster's cto-license Secret: the token,
// which the platform verifies itself, and its main fields for people
// reading the Secret.
func (l *License) SecretData() map[string][]byte {
	return map[string][]byte{
		"license":    []byte(l.Token),
		"license_id": []byte(l.ID),
		"customer":   []byte(l.Customer),
		"tier":       []byte(l.Tier),
		"expires_at": []byte(l.ExpiresAt.UTC().Format(time.RFC3339)),
	}
}
