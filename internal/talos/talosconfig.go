package talos

import (
	"fmt"

	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"github.com/siderolabs/talos/pkg/machinery/config/generate"
)

// TalosconfigFile is the talosconfig's file in the cluster's folder.
const TalosconfigFile = "talosconfig"

// Talosconfig renders an admin talosconfig whose endpoints are the
// control-plane addresses. It names no default nodes: a command without
// --nodes must not fan out to the whole cluster.
func Talosconfig(s *Secrets, cluster string, endpoints []string) ([]byte, error) {
	in, err := generate.NewInput(cluster, EndpointURL("127.0.0.1"), DefaultKubernetesVersion,
		generate.WithSecretsBundle(s.Bundle), generate.WithEndpointList(endpoints))
	if err != nil {
		return nil, fmt.Errorf("talosconfig: %w", err)
	}
	cfg, err := in.Talosconfig()
	if err != nil {
		return nil, fmt.Errorf("talosconfig: %w", err)
	}
	for _, ctx := range cfg.Contexts {
		ctx.Nodes = nil
	}
	return cfg.Bytes()
}

// ParseTalosconfig reads a talosconfig.
func ParseTalosconfig(data []byte) (*clientconfig.Config, error) {
	cfg, err := clientconfig.FromBytes(data)
	if err != nil {
		return nil, fmt.Errorf("talosconfig: %w", err)
	}
	return cfg, nil
}
