package license_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/license"
)

func lic(tier license.Tier, expires time.Time) *license.License {
	l := sample(tier)
	l.ExpiresAt = expires
	return &l
}

func TestCheckTierBoundaries(t *testing.T) {
	now := issued.AddDate(0, 1, 0)
	far := issued.AddDate(2, 0, 0)
	cases := []struct {
		name    string
		tier    license.Tier // "" is no license
		req     license.Request
		refused string // "" means allowed
	}{
		{"free local 1", "", license.Request{Provider: "local", Nodes: 1}, ""},
		{"free local 3", "", license.Request{Provider: "local", Nodes: 3}, ""},
		{"free local 4", "", license.Request{Provider: "local", Nodes: 4}, "4 nodes exceed the Free tier's limit of 3 local nodes; a Business license covers up to 10"},
		{"free bare metal", "", license.Request{Provider: "latitude", Nodes: 1}, "provider latitude needs a license"},
		{"free existing", "", license.Request{Provider: "existing", Nodes: 1}, ""},
		{"free gpu", "", license.Request{Provider: "local", Nodes: 1, GPU: true}, "GPU nodes need a Business"},
		{"starter 1", license.Starter, license.Request{Provider: "hetzner", Nodes: 1}, ""},
		{"starter 2", license.Starter, license.Request{Provider: "hetzner", Nodes: 2}, "2 nodes exceed the Starter license's limit of 1; a Team license covers up to 3"},
		{"starter local 3", license.Starter, license.Request{Provider: "local", Nodes: 3}, ""},
		{"team 3", license.Team, license.Request{Provider: "latitude", Nodes: 3}, ""},
		{"team 4", license.Team, license.Request{Provider: "latitude", Nodes: 4}, "4 nodes exceed the Team license's limit of 3; a Business license covers up to 10"},
		{"team vultr 4", license.Team, license.Request{Provider: "vultr", Nodes: 4}, "limit of 3"},
		{"team gpu", license.Team, license.Request{Provider: "latitude", Nodes: 1, GPU: true}, "GPU nodes need a Business or Enterprise license; this one is Team"},
		{"business 10", license.Business, license.Request{Provider: "hetzner-robot", Nodes: 10}, ""},
		{"business 11", license.Business, license.Request{Provider: "hetzner-robot", Nodes: 11}, "11 nodes exceed the Business license's limit of 10; an Enterprise license covers any number of nodes unless it was issued with a lower max_nodes"},
		{"business gpu", license.Business, license.Request{Provider: "latitude", Nodes: 3, GPU: true}, ""},
		{"enterprise 500", license.Enterprise, license.Request{Provider: "latitude", Nodes: 500, GPU: true}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var l *license.License
			if c.tier != "" {
				l = lic(c.tier, far)
			}
			_, err := license.Check(l, c.req, now)
			if c.refused == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !license.IsError(err, license.Refused) || !strings.Contains(err.Error(), c.refused) {
				t.Fatalf("got %v, want a refusal saying %q", err, c.refused)
			}
		})
	}
}

func TestCheckMaxNodesOverridesTier(t *testing.T) {
	l := lic(license.Team, issued.AddDate(2, 0, 0))
	l.MaxNodes = 5
	req := license.Request{Provider: "latitude", Nodes: 5}
	if _, err := license.Check(l, req, issued); err != nil {
		t.Fatalf("a Team license signed for 5 nodes covers 5: %v", err)
	}
	req.Nodes = 6
	if _, err := license.Check(l, req, issued); err == nil || !strings.Contains(err.Error(), "limit of 5") {
		t.Fatalf("6 nodes: %v", err)
	}
}

// An Enterprise license issued for 100 nodes is held to 100, and the
// refusal does not say an Enterprise license covers any number: the one
// rule is the license's max_nodes when it names one, else its tier's.
func TestCheckNodeLimitMessageIsConsistent(t *testing.T) {
	for _, tier := range []license.Tier{license.Starter, license.Team, license.Business, license.Enterprise} {
		l := lic(tier, issued.AddDate(2, 0, 0))
		l.MaxNodes = 100
		_, err := license.Check(l, license.Request{Provider: "latitude", Nodes: 100000}, issued)
		if !license.IsError(err, license.Refused) {
			t.Fatalf("%s license for 100 nodes, 100000 asked: %v", tier, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, "limit of 100") || strings.Contains(msg, "any number") || strings.Contains(msg, "covers up to") ||
			!strings.Contains(msg, "covers 100000 nodes") {
			t.Errorf("%s license for 100 nodes: %q contradicts its limit or gives no way out", tier, msg)
		}
	}
	// Without max_nodes the tier's limit holds and the hint names a tier
	// whose limit covers the request.
	for _, tier := range []license.Tier{license.Starter, license.Team, license.Business} {
		l := lic(tier, issued.AddDate(2, 0, 0))
		_, err := license.Check(l, license.Request{Provider: "latitude", Nodes: tier.MaxNodes() + 1}, issued)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("limit of %d;", tier.MaxNodes())) {
			t.Errorf("%s at its limit + 1: %v", tier, err)
		}
	}
	if _, err := license.Check(lic(license.Enterprise, issued.AddDate(2, 0, 0)), license.Request{Provider: "latitude", Nodes: 100000}, issued); err != nil {
		t.Errorf("an Enterprise license without max_nodes covers any number: %v", err)
	}
}

func TestCheckExpiryPhases(t *testing.T) {
	expires := time.Date(2027, 12, 31, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	req := license.Request{Provider: "latitude", Nodes: 3}
	cases := []struct {
		name    string
		at      time.Time
		phase   license.Phase
		warning string // "" means none
		refused string
	}{
		{"31 days ahead", expires.Add(-31 * day), license.Valid, "", ""},
		{"30 days ahead", expires.Add(-30 * day), license.Expiring30, "expires on 2027-12-31 (in 30 days)", ""},
		{"15 days ahead", expires.Add(-15 * day), license.Expiring30, "(in 15 days)", ""},
		{"14 days ahead", expires.Add(-14 * day), license.Expiring14, "(in 14 days)", ""},
		{"8 days ahead", expires.Add(-8 * day), license.Expiring14, "(in 8 days)", ""},
		{"7 days ahead", expires.Add(-7 * day), license.Expiring7, "(in 7 days)", ""},
		{"one hour ahead", expires.Add(-time.Hour), license.Expiring7, "(in 1 day)", ""},
		{"at expiry", expires, license.InGrace, "expired on 2027-12-31; new deploys are refused after 2028-01-07", ""},
		{"6 days after", expires.Add(6 * day), license.InGrace, "expired on 2027-12-31", ""},
		{"grace over", expires.Add(7 * day), license.Expired, "", "expired on 2027-12-31 and its 7-day grace ended on 2028-01-07"},
		{"a year after", expires.AddDate(1, 0, 0), license.Expired, "", "expired on 2027-12-31"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := lic(license.Team, expires)
			if got := l.PhaseAt(c.at); got != c.phase {
				t.Fatalf("phase %d, want %d", got, c.phase)
			}
			warnings, err := license.Check(l, req, c.at)
			if c.refused != "" {
				if !license.IsError(err, license.Refused) || !strings.Contains(err.Error(), c.refused) {
					t.Fatalf("got %v, want refusal %q", err, c.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.warning == "" {
				if len(warnings) != 0 {
					t.Fatalf("unexpected warnings %q", warnings)
				}
				return
			}
			if len(warnings) != 1 || !strings.Contains(warnings[0], c.warning) {
				t.Fatalf("warnings %q, want one saying %q", warnings, c.warning)
			}
		})
	}
}

func TestCheckRefusalKeepsWarnings(t *testing.T) {
	expires := time.Date(2027, 12, 31, 0, 0, 0, 0, time.UTC)
	w, err := license.Check(lic(license.Team, expires), license.Request{Provider: "latitude", Nodes: 4}, expires.AddDate(0, 0, -3))
	if err == nil || len(w) != 1 {
		t.Fatalf("warnings %q, err %v", w, err)
	}
}
