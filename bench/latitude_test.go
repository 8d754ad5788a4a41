package main

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/cto-platform/cto/internal/deploy/deploytest"

	"github.com/cto-platform/cto/internal/deploy"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/latitude"
)

// polling counts the status polls of the servers step and the reads each
// one cost.
type polling struct {
	*latitude.Provider
	mu           sync.Mutex
	polls, reads int64
}

func (p *polling) ListServers(ctx context.Context, cluster string) ([]provider.Server, error) {
	before := p.Client().Stats().Reads
	out, err := p.Provider.ListServers(ctx, cluster)
	p.mu.Lock()
	p.polls++
	p.reads += p.Client().Stats().Reads - before
	p.mu.Unlock()
	return out, err
}

// BenchmarkLatitudeDeploy runs validate, servers and network for N nodes
// against the Latitude double under Latitude's published budget (60 reads
// and 20 writes a minute) on a fast simulated clock, and reports the API
// calls per node and the reads per status poll.
func BenchmarkLatitudeDeploy(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			var calls, writes, polls, pollReads, limited int64
			for i := 0; i < b.N; i++ {
				run, f, lp := deploytest.LatitudeRun(b, deploytest.Latitude{Nodes: n, Speed: 5000})
				p := &polling{Provider: lp}
				run.Deps.Provider = p
				engine := &pipeline.Engine{Steps: deploy.Steps()}
				if err := engine.Execute(context.Background(), run, pipeline.Options{Until: deploy.StepNetwork}); err != nil {
					b.Fatal(err)
				}
				st := lp.Client().Stats()
				calls += st.Reads + st.Writes
				writes += st.Writes
				limited += st.RateLimited
				polls += p.polls
				pollReads += p.reads
				if got := len(f.State().Servers); got != n {
					b.Fatalf("%d servers, want %d", got, n)
				}
			}
			runs := float64(b.N)
			b.ReportMetric(float64(calls)/runs/float64(n), "calls/node")
			b.ReportMetric(float64(writes)/runs/float64(n), "writes/node")
			b.ReportMetric(float64(polls)/runs, "polls")
			b.ReportMetric(float64(pollReads)/float64(polls), "reads/poll")
			b.ReportMetric(float64(limited)/runs, "429s")
		})
	}
}
