// Package licensetest signs licenses for tests, by default with the
// development key that test builds trust, and writes them where cto reads
// them.
package licensetest

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/license"
	"github.com/cto-platform/cto/internal/license/devkey"
)

// Sign signs l with key and fails the test if it cannot.
func Sign(t testing.TB, l license.License, key ed25519.PrivateKey) string {
	t.Helper()
	tok, err := license.Sign(l, key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Token signs l with the development key.
func Token(t testing.TB, l license.License) string {
	t.Helper()
	return Sign(t, l, devkey.Key())
}

// Valid is the token of a license of tier for the customer "Test", issued
// a month ago and expiring in a year: one a deploy accepts today.
func Valid(t testing.TB, id string, tier license.Tier) string {
	t.Helper()
	now := time.Now()
	return Token(t, license.License{ID: id, Customer: "Test", Tier: tier,
		IssuedAt: now.AddDate(0, -1, 0), ExpiresAt: now.AddDate(1, 0, 0)})
}

// File writes tok as a license file holds it (one line, readable by its
// owner only) into a fresh temporary folder and returns its path.
func File(t testing.TB, tok string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "license.txt")
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
