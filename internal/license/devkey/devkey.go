// Package devkey holds the development signing key: the private half of
// license.DevelopmentPublicKey. Tests, the simulated datacenter and
// cto-license use it to sign licenses a development build trusts. The cto
// binary never imports it.
package devkey

import (
	"crypto/ed25519"
	_ "embed"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
)

//go:embed testdata/development.key
var developmentKey string

// Key returns the development private key.
func Key() ed25519.PrivateKey {
	k, err := ParsePrivateKey(developmentKey)
	if err != nil {
		panic("devkey: " + err.Error())
	}
	return k
}

// ParsePrivateKey reads a key file's text: the base64 32-byte seed or the
// 64-byte private key.
func ParsePrivateKey(text string) (ed25519.PrivateKey, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil {
		return nil, fmt.Errorf("not a base64 Ed25519 private key: %v", err)
	}
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case ed25519.PrivateKeySize:
		return ed25519.PrivateKey(raw), nil
	}
	return nil, fmt.Errorf("not an Ed25519 private key: %d bytes, want %d or %d", len(raw), ed25519.SeedSize, ed25519.PrivateKeySize)
}

// ReadPrivateKey reads a key file.
func ReadPrivateKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePrivateKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// EncodePrivateKey is the text of a key file for k: its base64 seed.
func EncodePrivateKey(k ed25519.PrivateKey) string {
	return base64.StdEncoding.EncodeToString(k.Seed()) + "\n"
}
