package license_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/license"
	"github.com/cto-platform/cto/internal/license/devkey"
	"github.com/cto-platform/cto/internal/license/licensetest"
)

var issued = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func sample(tier license.Tier) license.License {
	return license.License{
		ID: "L-0001", Customer: "Acme", Tier: tier, MaxAgents: 5, Features: []string{"gpu"},
		IssuedAt: issued, ExpiresAt: issued.AddDate(1, 0, 0),
	}
}

func trusted(t *testing.T) *license.Verifier {
	t.Helper()
	v, err := license.Trusted()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDevelopmentKeyPair(t *testing.T) {
	pub := devkey.Key().Public().(ed25519.PublicKey)
	if got := base64.StdEncoding.EncodeToString(pub); got != license.DevelopmentPublicKey {
		t.Fatalf("devkey's public half is %s, license.DevelopmentPublicKey is %s", got, license.DevelopmentPublicKey)
	}
	if !license.UsesDevelopmentKey() {
		t.Fatal("a test build must trust the development key")
	}
}

func TestVerifyRoundTrip(t *testing.T) {
	want := sample(license.Team)
	got, err := trusted(t).Verify(licensetest.Token(t, want) + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != want.ID || got.Customer != want.Customer || got.Tier != want.Tier || !got.ExpiresAt.Equal(want.ExpiresAt) ||
		got.MaxAgents != 5 || len(got.Features) != 1 || got.NodeLimit() != 3 {
		t.Fatalf("round trip changed the license: %+v", got)
	}
	if got.KeyID != license.KeyID(devkey.Key().Public().(ed25519.PublicKey)) {
		t.Fatalf("key id %q", got.KeyID)
	}
}

func TestVerifyProblems(t *testing.T) {
	good := licensetest.Token(t, sample(license.Team))
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	wrongKey := licensetest.Sign(t, sample(license.Team), otherKey)
	parts := strings.Split(good, ".")
	// Same key ID and signature, payload of a Business license.
	forged := sample(license.Business)
	forgedTok := licensetest.Token(t, forged)
	swapped := strings.Join([]string{parts[0], parts[1], strings.Split(forgedTok, ".")[2], parts[3]}, ".")
	flipped := []byte(good)
	i := len(parts[0]) + len(parts[1]) + 10 // inside the payload
	if flipped[i] == 'A' {
		flipped[i] = 'B'
	} else {
		flipped[i] = 'A'
	}
	badTier := sample(license.Team)
	badTier.Tier = "platinum"

	cases := []struct {
		name, token string
		want        license.Problem
		says        string
	}{
		{"cut in the signature", good[:len(good)-10], license.Truncated, "truncated"},
		{"signature missing", strings.Join(parts[:3], "."), license.Truncated, "truncated"},
		{"cut in the payload", good[:len(parts[0])+len(parts[1])+20], license.Truncated, "truncated"},
		{"only the prefix", "ctolic", license.Truncated, "truncated"},
		{"empty", "  ", license.Truncated, "truncated"},
		{"payload swapped", swapped, license.Tampered, "altered"},
		{"one character changed", string(flipped), license.Tampered, "altered"},
		{"signature damaged", good[:len(good)-3] + "!!!", license.Tampered, "altered"},
		{"extra part", good + ".x", license.Tampered, "altered"},
		{"other key", wrongKey, license.WrongKey, "does not trust"},
		{"not a license", "hello world", license.Invalid, "not a cto license"},
		{"unknown tier", licensetest.Token(t, badTier), license.Invalid, "platinum"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := trusted(t).Verify(c.token)
			if !license.IsError(err, c.want) {
				t.Fatalf("got %v, want a %s error", err, c.want)
			}
			if !strings.Contains(err.Error(), c.says) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("message %q should say %q on one line", err, c.says)
			}
		})
	}
}

func TestReleaseKeysDistrustDevelopmentKey(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	old := license.TrustedPublicKeys
	license.TrustedPublicKeys = base64.StdEncoding.EncodeToString(pub)
	defer func() { license.TrustedPublicKeys = old }()
	v := trusted(t)
	if _, err := v.Verify(licensetest.Token(t, sample(license.Team))); !license.IsError(err, license.WrongKey) {
		t.Fatalf("a release build must not trust the development key: %v", err)
	}
	if license.UsesDevelopmentKey() {
		t.Fatal("UsesDevelopmentKey with a release key set")
	}
}

func TestLoad(t *testing.T) {
	tok := licensetest.Token(t, sample(license.Business))
	path := licensetest.File(t, tok)
	for _, ref := range []string{path, tok} {
		l, err := license.Load(ref, trusted(t))
		if err != nil || l.Tier != license.Business {
			t.Fatalf("Load(%.20s): %v %v", ref, l, err)
		}
	}
	if l, err := license.Load("", trusted(t)); l != nil || err != nil {
		t.Fatalf("no license must be the Free tier: %v %v", l, err)
	}
	_, err := license.Load(filepath.Join(t.TempDir(), "missing"), trusted(t))
	if !license.IsError(err, license.Unreadable) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestSecretData(t *testing.T) {
	tok := licensetest.Token(t, sample(license.Team))
	l, err := trusted(t).Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	d := l.SecretData()
	if string(d["license"]) != tok || string(d["tier"]) != "team" || string(d["expires_at"]) != "2027-01-01T00:00:00Z" {
		t.Fatalf("secret data %q", d)
	}
	// The platform can verify what it stores.
	if _, err := trusted(t).Verify(string(d["license"])); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkVerify(b *testing.B) {
	tok := licensetest.Token(b, sample(license.Team))
	v, err := license.Trusted()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}
