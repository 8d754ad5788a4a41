package talos

import (
	"bytes"
	"fmt"

	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/generate/secrets"
	"go.yaml.in/yaml/v4"
)

// SecretsFile is the secrets bundle's file in the cluster's folder.
const SecretsFile = "secrets.yaml"

// Secrets is a cluster's Talos secrets bundle: CAs, tokens and keys. It is
// created once, stored before any node is touched, and never regenerated.
type Secrets struct {
	Bundle *secrets.Bundle
}

func contract(talosVersion string) (*config.VersionContract, error) {
	if talosVersion == "" {
		talosVersion = DefaultTalosVersion
	}
	c, err := config.ParseContractFromVersion(talosVersion)
	if err != nil {
		return nil, fmt.Errorf("talos version %q: %w", talosVersion, err)
	}
	return c, nil
}

// NewSecrets creates a fresh bundle for a Talos version and returns it with
// its YAML, which the caller stores (0600) before using it.
func NewSecrets(talosVersion string) (*Secrets, []byte, error) {
	c, err := contract(talosVersion)
	if err != nil {
		return nil, nil, err
	}
	b, err := secrets.NewBundle(secrets.NewClock(), c)
	if err != nil {
		return nil, nil, fmt.Errorf("create talos secrets: %w", err)
	}
	data, err := yaml.Marshal(b)
	if err != nil {
		return nil, nil, fmt.Errorf("encode talos secrets: %w", err)
	}
	return &Secrets{Bundle: b}, data, nil
}

// ParseSecrets reads a stored bundle and checks it is complete.
func ParseSecrets(data []byte) (*Secrets, error) {
	b := &secrets.Bundle{Clock: secrets.NewClock()}
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(b); err != nil {
		return nil, fmt.Errorf("talos secrets are not valid YAML: %v", err)
	}
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("talos secrets are incomplete: %v", err)
	}
	return &Secrets{Bundle: b}, nil
}
