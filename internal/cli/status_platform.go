package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/cto-platform/cto/internal/deploy"
	"github.com/cto-platform/cto/internal/kubeconfig"
	"github.com/cto-platform/cto/internal/platform"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
)

// platformView is what status shows of the cluster's components.
type platformView struct {
	Components []platform.ComponentStatus `json:"components,omitempty"`
	// Unreachable says why the components could not be read.
	Unreachable string `json:"unreachable,omitempty"`
}

// componentStatus asks the cluster how its components are, when the
// platform step has run and the cluster answers within a few seconds.
func componentStatus(ctx context.Context, c *state.Cluster, j *state.Journal) *platformView {
	if _, ran := j.Step(deploy.StepPlatform); !ran {
		return nil
	}
	var s spec.ClusterSpec
	var raw []byte
	j.View(func(j *state.Journal) { raw = j.Spec })
	if json.Unmarshal(raw, &s) != nil {
		return nil
	}
	kubeconfig := c.Path(kubeconfig.File)
	if _, err := os.Stat(kubeconfig); err != nil {
		kubeconfig = s.Kubeconfig
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := platform.CheckReachable(ctx, kubeconfig); err != nil {
		return &platformView{Unreachable: err.Error()}
	}
	in, err := platform.New(platform.Options{
		Kubeconfig: kubeconfig,
		Selection:  deploy.PlatformSelection(s),
		GitOps:     platform.GitOps{Repo: s.Platform.GitOpsRepo, Path: s.Platform.GitOpsPath, Revision: s.Platform.GitOpsRevision},
	})
	if err != nil {
		return &platformView{Unreachable: err.Error()}
	}
	comps, err := in.Status(ctx)
	v := &platformView{Components: comps}
	if err != nil {
		v.Unreachable = err.Error()
	}
	return v
}

func printComponents(g *globals, v *platformView) {
	if v == nil {
		return
	}
	out := g.streams.Out
	fmt.Fprintln(out)
	if len(v.Components) > 0 {
		tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "COMPONENT\tVERSION\tSYNC\tHEALTH\tMESSAGE")
		for _, s := range v.Components {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, s.Version, s.Sync, s.Health, s.Message)
		}
		tw.Flush()
	}
	if v.Unreachable != "" {
		fmt.Fprintf(out, "Components: %s\n", v.Unreachable)
	}
}

// readCredentials returns credentials.json, for --show-credentials.
func readCredentials(c *state.Cluster) (json.RawMessage, error) {
	data, err := c.ReadFile(deploy.CredentialsFile)
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("cluster %q has no %s yet: its credentials step has not run", c.Name, deploy.CredentialsFile)
	}
	return data, err
}
