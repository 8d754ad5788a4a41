package cli

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/provider/kind"
	"github.com/cto-platform/cto/internal/spec"
)

// localHost is the machine local clusters run on, and localNodes builds
// kind's library for an engine; tests replace both.
var (
	localHost  = kind.ThisHost
	localNodes = kind.Library
)

// preflightLocal checks, before anything is written, that a local cluster
// can run here: a container engine answers and there is memory enough for
// the profile. Other providers pass.
func preflightLocal(ctx context.Context, g *globals, f *deployFlags, fs *pflag.FlagSet, s spec.ClusterSpec) error {
	if spec.SourceOf(deployProvider(g, f, fs, s)) != spec.Local {
		return nil
	}
	_, err := kind.Preflight(ctx, localHost(), s.Profile)
	return err
}

// deployProvider is the provider this deploy will use: the one the flags or
// file name, or, for `cto deploy --name X` resuming, the journal's.
func deployProvider(g *globals, f *deployFlags, fs *pflag.FlagSet, s spec.ClusterSpec) string {
	if gaveSpec(f, fs) {
		return s.Provider
	}
	if j, err := readJournal(g.stateDir, s.Name); err == nil && j.Provider != "" {
		return j.Provider
	}
	return s.Provider
}

// newLocalCluster wires kind on the engine that answers here.
func newLocalCluster(ctx context.Context) (pipeline.LocalCluster, error) {
	engine, err := localHost().Engine(ctx)
	if err != nil {
		return nil, err
	}
	return kind.Clusters{Nodes: localNodes(engine)}, nil
}

// deleteLocalCluster removes the kind cluster of a local cto cluster.
func deleteLocalCluster(ctx context.Context, g *globals, name string) error {
	engine, err := localHost().Engine(ctx)
	if err != nil {
		return fmt.Errorf("cannot delete local cluster %s: %w", kind.ClusterName(name), err)
	}
	existed, err := kind.Clusters{Nodes: localNodes(engine)}.Delete(ctx, name)
	if err != nil {
		return err
	}
	if existed {
		fmt.Fprintf(g.streams.ErrOut, "Deleted local cluster %s.\n", kind.ClusterName(name))
	} else {
		fmt.Fprintf(g.streams.ErrOut, "No local cluster %s is running on %s.\n", kind.ClusterName(name), engine)
	}
	return nil
}
