package remote

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/state"
)

// BenchmarkRemoteStateDeploy measures what remote state adds to a deploy
// of N nodes: the bytes and uploads the replica sends while the journal
// grows the way a Latitude deploy grows it, and the time the command waits
// for the store (lock, pull, last upload, release).
//
// The deploy is replayed on a simulated clock: servers are ordered at the
// API's write budget (20 a minute), each then changes status three times
// over its 10-minute deploy, gets its addresses and a VLAN assignment, and
// is configured after its 3-minute Talos install. The replica uploads at
// most once per Lag (2s) of that clock, as it does in a real run, to a
// real S3-compatible store on loopback.
//
//	go test -run '^$' -bench RemoteStateDeploy -benchtime 1x ./internal/state/remote/
func BenchmarkRemoteStateDeploy(b *testing.B) {
	for _, n := range []int{10, 100, 500} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			for range b.N {
				benchDeploy(b, n)
			}
		})
	}
}

type event struct {
	at time.Duration
	fn func(j *state.Journal)
}

func deployEvents(n int) []event {
	var ev []event
	step := func(at time.Duration, name string, st state.StepStatus) {
		ev = append(ev, event{at, func(j *state.Journal) {
			j.Steps[name] = &state.StepRecord{Status: st, StartedAt: time.Now()}
		}})
	}
	step(0, "validate", state.StepDone)
	step(time.Second, "servers", state.StepRunning)
	every := 3 * time.Second // 20 writes a minute
	for i := range n {
		created := time.Duration(i) * every
		name := fmt.Sprintf("cto-worker%d", i+1)
		id := fmt.Sprintf("sv_%012d", i+1)
		ev = append(ev, event{created, func(j *state.Journal) {
			j.Nodes = append(j.Nodes, &state.Node{Name: name, Role: "worker", Index: i + 1, ServerID: id, Status: "deploying"})
		}})
		for k, st := range []string{"provisioning", "installing", "on"} {
			at := created + time.Duration(k+1)*200*time.Second
			ev = append(ev, event{at, func(j *state.Journal) {
				n := j.NodeLocked(name)
				n.Status = st
				if st == "on" {
					n.PublicIP = fmt.Sprintf("203.0.%d.%d", i/250, i%250+1)
				}
			}})
		}
		on := created + 10*time.Minute
		ev = append(ev, event{on + 30*time.Second, func(j *state.Journal) {
			j.Resources = append(j.Resources, &state.Resource{Kind: "vlan_assignment", ID: fmt.Sprintf("vla_%012d", i+1), Name: name, Region: "DAL",
				Status: "connected", Attrs: map[string]string{"server": id, "vlan": "vlan_000000000001"}, CreatedAt: time.Now()})
			j.NodeLocked(name).PrivateIP = fmt.Sprintf("10.8.%d.%d", i/250, i%250+10)
		}})
		ev = append(ev, event{on + 3*time.Minute + 30*time.Second, func(j *state.Journal) {
			j.NodeLocked(name).Configured = true
		}})
	}
	end := time.Duration(n)*every + 15*time.Minute
	step(end, "servers", state.StepDone)
	step(end+time.Second, "platform", state.StepDone)
	return ev
}

func benchDeploy(b *testing.B, n int) {
	b.StopTimer()
	srv := startForBench(b)
	s := storeAtBench(b, srv)
	ctx := context.Background()
	key := benchKey(b)
	dir := filepath.Join(b.TempDir(), "clusters", "bench")
	c, err := state.Open(filepath.Dir(filepath.Dir(dir)), "bench", true)
	if err != nil {
		b.Fatal(err)
	}
	// Secrets a deploy writes (Talos secrets, talosconfig, kubeconfig,
	// credentials), sized as they are.
	for name, size := range map[string]int{"secrets.yaml": 9000, "talosconfig": 2000, "kubeconfig": 6000, "credentials.json": 800} {
		c.WriteSecret(name, make([]byte, size))
	}
	b.StartTimer()
	began := time.Now()
	lease, err := Acquire(ctx, s, "bench", "deploy", time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	rep, err := NewReplica(ctx, s, "bench", c.Dir, key)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := rep.Pull(ctx); err != nil {
		b.Fatal(err)
	}
	waited := time.Since(began)
	b.StopTimer()
	for name, size := range map[string]int{"secrets.yaml": 9000, "talosconfig": 2000, "kubeconfig": 6000, "credentials.json": 800} {
		c.WriteSecret(name, make([]byte, size))
	}
	j := state.NewJournal("bench")
	if err := c.Save(j); err != nil {
		b.Fatal(err)
	}
	evs := deployEvents(n)
	var background time.Duration
	next := 0
	end := evs[len(evs)-1].at
	for tick := DefaultLag; next < len(evs); tick += DefaultLag {
		for next < len(evs) && evs[next].at <= tick {
			if err := j.Update(evs[next].fn); err != nil {
				b.Fatal(err)
			}
			next++
		}
		t0 := time.Now()
		if err := rep.Push(ctx); err != nil {
			b.Fatal(err)
		}
		background += time.Since(t0)
	}
	b.StartTimer()
	t0 := time.Now()
	if err := rep.Stop(ctx); err != nil {
		b.Fatal(err)
	}
	if err := lease.Release(ctx); err != nil {
		b.Fatal(err)
	}
	waited += time.Since(t0)
	b.StopTimer()
	final, _ := c.ReadFile("state.json")
	b.ReportMetric(float64(s.Uploaded.Load()), "bytes-up/deploy")
	b.ReportMetric(float64(s.Puts.Load()), "puts/deploy")
	b.ReportMetric(float64(waited.Milliseconds()), "wait-ms/deploy")
	b.ReportMetric(float64(background.Milliseconds()), "bg-ms/deploy")
	b.ReportMetric(float64(len(final)), "journal-bytes")
	b.ReportMetric(float64(len(gzipBytes(final))), "journal-gz-bytes")
	b.ReportMetric(end.Minutes(), "deploy-min")
	b.StartTimer()
}
