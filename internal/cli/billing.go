package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cto-platform/cto/internal/state"
)

// billed is one resource a failed deploy leaves at the provider.
type billed struct {
	Kind   state.ResourceKind `json:"kind"`
	ID     string             `json:"id"`
	Name   string             `json:"name,omitempty"`
	Region string             `json:"region,omitempty"`
}

// stillBilling lists the servers and private networks the journal says are
// live: what keeps costing money after a deploy stopped.
func stillBilling(j *state.Journal) []billed {
	var out []billed
	for _, kind := range []state.ResourceKind{state.KindServer, state.KindNetwork} {
		for _, r := range j.LiveResources(kind) {
			out = append(out, billed{Kind: kind, ID: r.ID, Name: r.Name, Region: r.Region})
		}
	}
	return out
}

// destroyCommand is the command that removes the cluster, with the state
// folder when it is not the default one.
func destroyCommand(g *globals, name string) string {
	cmd := "cto destroy --name " + name
	if g.remote != nil {
		cmd += " --state " + g.remote.url
	} else if g.stateDir != state.DefaultDir() {
		cmd += " --state-dir " + g.stateDir
	}
	return cmd
}

// tellStillBilling tells the user, after a failed deploy, exactly what is
// still billing and how to remove it: a block on stderr for people, one
// event on stdout for scripts. It returns the one-line summary for the
// error, "" when nothing is live.
func tellStillBilling(g *globals, provider string, j *state.Journal, name string) string {
	live := stillBilling(j)
	if len(live) == 0 {
		return ""
	}
	servers, networks := 0, 0
	for _, b := range live {
		if b.Kind == state.KindServer {
			servers++
		} else {
			networks++
		}
	}
	var parts []string
	if servers > 0 {
		parts = append(parts, plural(servers, "server"))
	}
	if networks > 0 {
		parts = append(parts, plural(networks, "private network"))
	}
	count := strings.Join(parts, " and ")
	destroy := destroyCommand(g, name)
	if g.json() {
		json.NewEncoder(g.streams.Out).Encode(map[string]any{
			"event": "still_billing", "time": time.Now().UTC(), "cluster": name, "provider": provider,
			"resources": live, "destroy": destroy,
		})
	} else {
		w := g.streams.ErrOut
		fmt.Fprintf(w, "\nStill billing at %s: %s. Rerun the deploy to finish, or remove them with `%s`:\n", provider, count, destroy)
		for _, b := range live {
			fmt.Fprintf(w, "  %-8s %-24s %-20s %s\n", b.Kind, b.ID, b.Name, b.Region)
		}
	}
	return fmt.Sprintf("still billing at %s: %s (%s); `%s` removes them", provider, count, idList(live), destroy)
}

func idList(live []billed) string {
	ids := make([]string, len(live))
	for i, b := range live {
		ids[i] = b.ID
	}
	return strings.Join(ids, ", ")
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
