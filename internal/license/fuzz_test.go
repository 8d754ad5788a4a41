package license_test

import (
	"strings"
	"testing"

	"github.com/cto-platform/cto/internal/license"
	"github.com/cto-platform/cto/internal/license/licensetest"
)

// FuzzVerify feeds the parser arbitrary text: it must never panic, every
// rejection must be a one-line *license.Error, and whatever it accepts must
// carry a real tier and verify again to the same license.
func FuzzVerify(f *testing.F) {
	good := licensetest.Token(f, sample(license.Team))
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(good + ".")
	f.Add("ctolic1....")
	f.Add("")
	v, err := license.Trusted()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, token string) {
		l, err := v.Verify(token)
		if err != nil {
			if !license.IsError(err) {
				t.Fatalf("rejection is not a license error: %T %v", err, err)
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("message is not one line: %q", err)
			}
			return
		}
		if l.NodeLimit() < 0 || l.ExpiresAt.IsZero() || l.Tier == license.Free {
			t.Fatalf("accepted an unusable license: %+v", l)
		}
		again, err := v.Verify(l.Token)
		if err != nil || again.ID != l.ID || again.Tier != l.Tier {
			t.Fatalf("accepted token does not verify again: %v", err)
		}
	})
}
