// Package deploytest holds what tests and benchmarks of a deploy share.
package deploytest

import (
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/license"
	"github.com/cto-platform/cto/internal/license/devkey"
)

// License is a license of the tier signed with the development key (which
// a development build trusts), valid from a month ago to a year from now.
func License(tb testing.TB, tier license.Tier) string {
	tb.Helper()
	now := time.Now()
	tok, err := license.Sign(license.License{ID: "L-test", Customer: "Test", Tier: tier,
		IssuedAt: now.AddDate(0, -1, 0), ExpiresAt: now.AddDate(1, 0, 0)}, devkey.Key())
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}
