package deploy

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/spec"
)

// CheckSites refuses a region the provider does not have, naming it and
// listing the sites it has: an unknown site is the user's typo, not a
// plan out of stock. field names the flag or key (--region,
// fallbackRegions). Slugs compare case-insensitively (Vultr's are
// lower-case, cto upper-cases what it is given).
func CheckSites(ctx context.Context, p provider.Provider, providerName, field string, sites []string) error {
	var asked []string
	for _, s := range sites {
		if s != "" {
			asked = append(asked, s)
		}
	}
	if len(asked) == 0 {
		return nil
	}
	regions, err := p.ListRegions(ctx)
	if err != nil {
		return fmt.Errorf("list %s's regions: %w", providerName, err)
	}
	known := map[string]bool{}
	var slugs []string
	for _, r := range regions {
		known[strings.ToUpper(r.Slug)] = true
		slugs = append(slugs, r.Slug)
	}
	sort.Strings(slugs)
	for _, s := range asked {
		if !known[strings.ToUpper(s)] {
			return &spec.Error{Field: field, Value: s, Reason: fmt.Sprintf("is not a site of %s; use one of %s", providerName, strings.Join(slugs, ", "))}
		}
	}
	return nil
}
