// Package license verifies cto licenses offline and applies their rules.
//
// A license is a signed JSON document carried as one line of text, the
// token:
//
//	ctolic1.<key id>.<base64url payload>.<base64url Ed25519 signature>
//
// The signature covers everything before the last dot, so neither the
// payload nor the key ID can change unnoticed. The key ID names which
// trusted public key signed it, so a license from another key is told apart
// from a tampered one.
package license

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// TokenPrefix starts every license token.
const TokenPrefix = "ctolic1"

// DevelopmentPublicKey is the public half of the development key, whose
// private half is in devkey/testdata. It is trusted only when a build sets
// no TrustedPublicKeys, so tests and local builds can sign licenses.
const DevelopmentPublicKey = "jgHugobbyiP/JFfazLDKWhLxIj7zDWEl+uBnf/UFLwM="

// TrustedPublicKeys is set by release builds:
//
//	-ldflags "-X github.com/cto-platform/cto/internal/license.TrustedPublicKeys=<base64>[,<base64>...]"
//
// Empty means the development key.
var TrustedPublicKeys = ""

// Tier is a license level.
type Tier string

const (
	Free       Tier = "free"
	Starter    Tier = "starter"
	Team       Tier = "team"
	Business   Tier = "business"
	Enterprise Tier = "enterprise"
)

// Tiers lists the tiers from smallest to largest.
var Tiers = []Tier{Free, Starter, Team, Business, Enterprise}

// Title is the tier's name for people ("Team").
func (t Tier) Title() string {
	if t == "" {
		return ""
	}
	return strings.ToUpper(string(t[:1])) + string(t[1:])
}

// MaxNodes is the tier's node limit; 0 is unlimited.
func (t Tier) MaxNodes() int {
	switch t {
	case Free, Team:
		return 3
	case Starter:
		return 1
	case Business:
		return 10
	}
	return 0
}

func (t Tier) rank() int {
	for i, x := range Tiers {
		if x == t {
			return i
		}
	}
	return -1
}

// ParseTier reads a tier name, case-insensitively.
func ParseTier(s string) (Tier, error) {
	t := Tier(strings.ToLower(strings.TrimSpace(s)))
	if t.rank() < 0 {
		return "", fmt.Errorf("tier %q is not one of free, starter, team, business, enterprise", s)
	}
	return t, nil
}

// License is the signed document.
type License struct {
	ID        string    `json:"license_id"`
	Customer  string    `json:"customer"`
	Tier      Tier      `json:"tier"`
	MaxNodes  int       `json:"max_nodes"` // 0: the tier's limit (unlimited for Enterprise)
	MaxAgents int       `json:"max_agents"`
	Features  []string  `json:"features"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`

	// KeyID names the trusted key that verified it; Token is the text it
	// was read from. Neither is part of the signed document.
	KeyID string `json:"-"`
	Token string `json:"-"`
}

// NodeLimit is how many nodes the license covers; 0 is unlimited.
func (l *License) NodeLimit() int {
	if l.MaxNodes > 0 {
		return l.MaxNodes
	}
	return l.Tier.MaxNodes()
}

// Problem says what is wrong with a license.
type Problem string

const (
	// Unreadable: the file named cannot be read.
	Unreadable Problem = "unreadable"
	// Truncated: parts of the token are missing or cut short.
	Truncated Problem = "truncated"
	// Tampered: the signature does not match the content.
	Tampered Problem = "tampered"
	// WrongKey: signed by a key this build does not trust.
	WrongKey Problem = "wrong-key"
	// Invalid: signed, but its content is not a usable license.
	Invalid Problem = "invalid"
	// Refused: valid, but it does not allow what was asked (node count,
	// GPU, provider, expiry).
	Refused Problem = "refused"
)

// Error is a license that cannot be used, with one line saying why. Every
// Error is the user's input being wrong: the command exits 2.
type Error struct {
	Problem Problem
	Reason  string
}

func (e *Error) Error() string { return e.Reason }

func problem(p Problem, format string, args ...any) *Error {
	return &Error{Problem: p, Reason: fmt.Sprintf(format, args...)}
}

// IsError reports whether err is a license error, and of which problem
// when problems are given.
func IsError(err error, problems ...Problem) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	if len(problems) == 0 {
		return true
	}
	for _, p := range problems {
		if e.Problem == p {
			return true
		}
	}
	return false
}

// KeyID is the short name of a public key: the first 8 bytes of its
// SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// ParsePublicKey reads a base64 Ed25519 public key.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key %q is not a base64 Ed25519 public key", s)
	}
	return ed25519.PublicKey(raw), nil
}

// Verifier checks tokens against a set of trusted public keys.
type Verifier struct {
	keys map[string]ed25519.PublicKey
}

// NewVerifier trusts keys.
func NewVerifier(keys ...ed25519.PublicKey) *Verifier {
	v := &Verifier{keys: map[string]ed25519.PublicKey{}}
	for _, k := range keys {
		v.keys[KeyID(k)] = k
	}
	return v
}

// Trusted returns the verifier of this build: TrustedPublicKeys, or the
// development key when none are set.
func Trusted() (*Verifier, error) {
	list := TrustedPublicKeys
	if strings.TrimSpace(list) == "" {
		list = DevelopmentPublicKey
	}
	var keys []ed25519.PublicKey
	for _, s := range strings.Split(list, ",") {
		k, err := ParsePublicKey(s)
		if err != nil {
			return nil, fmt.Errorf("this build of cto has a broken trusted key: %w", err)
		}
		keys = append(keys, k)
	}
	return NewVerifier(keys...), nil
}

// UsesDevelopmentKey reports whether this build trusts the development key,
// which anyone with the source can sign with.
func UsesDevelopmentKey() bool { return strings.TrimSpace(TrustedPublicKeys) == "" }

var b64 = base64.RawURLEncoding

// Sign makes the token of l with key.
func Sign(l License, key ed25519.PrivateKey) (string, error) {
	payload, err := json.Marshal(l)
	if err != nil {
		return "", err
	}
	pub := key.Public().(ed25519.PublicKey)
	signed := TokenPrefix + "." + KeyID(pub) + "." + b64.EncodeToString(payload)
	return signed + "." + b64.EncodeToString(ed25519.Sign(key, []byte(signed))), nil
}

// Verify checks a token's signature and content and returns the license.
// It never looks at the clock: expiry is Check's business.
func (v *Verifier) Verify(token string) (*License, error) {
	token = strings.TrimSpace(token)
	if !strings.HasPrefix(token, TokenPrefix+".") {
		if token == "" || strings.HasPrefix(TokenPrefix+".", token) {
			return nil, problem(Truncated, "the license is truncated: it is empty or cut short; copy the whole license again")
		}
		return nil, problem(Invalid, "the license is not a cto license (it should start with %q); check you passed the license file", TokenPrefix+".")
	}
	parts := strings.Split(token, ".")
	if len(parts) < 4 {
		return nil, problem(Truncated, "the license is truncated: its signature is missing; copy the whole license again")
	}
	if len(parts) > 4 {
		return nil, problem(Tampered, "the license was altered: it has extra parts; get a fresh copy from your vendor")
	}
	kid, payloadText, sigText := parts[1], parts[2], parts[3]
	sig, err := b64.DecodeString(sigText)
	if err != nil || len(sig) != ed25519.SignatureSize {
		if len(sigText) < b64.EncodedLen(ed25519.SignatureSize) {
			return nil, problem(Truncated, "the license is truncated: its signature is cut short; copy the whole license again")
		}
		return nil, problem(Tampered, "the license was altered: its signature is damaged; get a fresh copy from your vendor")
	}
	key, ok := v.keys[kid]
	if !ok {
		return nil, problem(WrongKey, "the license is signed with a key this cto does not trust (key %s); use a license issued for this build of cto", printable(kid))
	}
	signed := token[:len(token)-len(sigText)-1]
	if !ed25519.Verify(key, []byte(signed), sig) {
		return nil, problem(Tampered, "the license was altered: its signature does not match its content; get a fresh copy from your vendor")
	}
	payload, err := b64.DecodeString(payloadText)
	if err != nil {
		return nil, problem(Invalid, "the license's content is not base64: %v", err)
	}
	var l License
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	if err := dec.Decode(&l); err != nil {
		return nil, problem(Invalid, "the license's content is not a license document: %v", err)
	}
	if err := l.validate(); err != nil {
		return nil, err
	}
	l.KeyID = kid
	l.Token = token
	return &l, nil
}

func (l *License) validate() error {
	if l.Tier.rank() <= 0 {
		return problem(Invalid, "the license names tier %q, which is not starter, team, business or enterprise", printable(string(l.Tier)))
	}
	if l.ExpiresAt.IsZero() {
		return problem(Invalid, "the license has no expiry date")
	}
	if l.MaxNodes < 0 {
		return problem(Invalid, "the license's max_nodes %d is negative", l.MaxNodes)
	}
	return nil
}

// printable keeps a value from the license short and on one line in a
// message.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return s
}

// IsToken reports whether a --license value is the token itself rather
// than the path of a file holding it.
func IsToken(ref string) bool {
	return strings.HasPrefix(strings.TrimSpace(ref), TokenPrefix+".")
}

// Fingerprint identifies the token without revealing it: the first 16 hex
// digits of its SHA-256. The journal keeps it instead of the token.
func (l *License) Fingerprint() string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(l.Token)))
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// Load reads a license from ref: the token itself, or the path of a file
// holding it. An empty ref is no license (nil, nil), the Free tier.
func Load(ref string, v *Verifier) (*License, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return nil, nil
	}
	token := ref
	if !strings.HasPrefix(ref, TokenPrefix+".") {
		data, err := os.ReadFile(ref)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, problem(Unreadable, "license file %s cannot be read: %v; pass --license with the license file or token", printable(ref), err)
		}
		token = string(data)
	}
	return v.Verify(token)
}
