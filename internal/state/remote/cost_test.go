package remote

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
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
				m := replayDeploy(b, n)
				b.ReportMetric(float64(m.up), "bytes-up/deploy")
				b.ReportMetric(float64(m.puts), "puts/deploy")
				b.ReportMetric(float64(m.naive), "naive-bytes/deploy")
				b.ReportMetric(float64(m.waited.Milliseconds()), "wait-ms/deploy")
				b.ReportMetric(float64(m.background.Milliseconds()), "bg-ms/deploy")
				b.ReportMetric(float64(m.journal), "journal-bytes")
				b.ReportMetric(float64(m.journalGz), "journal-gz-bytes")
				b.ReportMetric(m.length.Minutes(), "deploy-min")
			}
		})
	}
}

type event struct {
	at time.Duration
	fn func(j *state.Journal)
}

// providerID is an ID as Latitude hands them out: a prefix and 13 random
// base-62 characters, which compress as badly as real ones.
func providerID(rng *rand.Rand, prefix string) string {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := []byte(prefix + "_")
	for range 13 {
		b = append(b, digits[rng.IntN(len(digits))])
	}
	return string(b)
}

func deployEvents(n int, rng *rand.Rand) []event {
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
		id := providerID(rng, "sv")
		vla := providerID(rng, "vla")
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
			j.Resources = append(j.Resources, &state.Resource{Kind: "vlan_assignment", ID: vla, Name: name, Region: "DAL",
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

// TestRemoteStateBytesAreBoundedAt500Nodes replays a 500-node deploy and
// holds the bytes sent to the store to the bound docs/PERFORMANCE.md states:
// about 7 MB where one upload per journal write would send 400 MB.
func TestRemoteStateBytesAreBoundedAt500Nodes(t *testing.T) {
	m := replayDeploy(t, 500)
	t.Logf("%d puts, %d bytes (one upload per write: %d), journal %d bytes, %d gzip'd", m.puts, m.up, m.naive, m.journal, m.journalGz)
	// Each upload is at most the final journal gzip'd, and uploads come
	// at most once per lag.
	if limit := int64(m.length/DefaultLag) * int64(m.journalGz); m.up > limit {
		t.Errorf("sent %d bytes, more than %d uploads of the final journal", m.up, m.length/DefaultLag)
	}
	if m.up > 10<<20 || m.up*30 > m.naive {
		t.Errorf("sent %d bytes for 500 nodes; want at most 10 MiB and a thirtieth of %d", m.up, m.naive)
	}
}

type replayed struct {
	up, puts, naive    int64
	journal, journalGz int
	waited, background time.Duration
	length             time.Duration
}

func replayDeploy(b testing.TB, n int) replayed {
	type timer interface {
		StopTimer()
		StartTimer()
	}
	tm, ok := b.(timer)
	if !ok {
		tm = nopTimer{}
	}
	tm.StopTimer()
	s, _ := testStore(b, "bench")
	ctx := context.Background()
	key := testKey(b)
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
	tm.StartTimer()
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
	tm.StopTimer()
	for name, size := range map[string]int{"secrets.yaml": 9000, "talosconfig": 2000, "kubeconfig": 6000, "credentials.json": 800} {
		c.WriteSecret(name, make([]byte, size))
	}
	j := state.NewJournal("bench")
	if err := c.Save(j); err != nil {
		b.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	b.Logf("seed %d", seed)
	evs := deployEvents(n, rand.New(rand.NewPCG(seed, 0)))
	var background time.Duration
	var naive int64
	next := 0
	end := evs[len(evs)-1].at
	for tick := DefaultLag; next < len(evs); tick += rep.NextLag() {
		for next < len(evs) && evs[next].at <= tick {
			if err := j.Update(evs[next].fn); err != nil {
				b.Fatal(err)
			}
			if info, err := os.Stat(c.Path("state.json")); err == nil {
				naive += info.Size() // one whole upload per journal write
			}
			next++
		}
		t0 := time.Now()
		if err := rep.Push(ctx); err != nil {
			b.Fatal(err)
		}
		background += time.Since(t0)
	}
	tm.StartTimer()
	t0 := time.Now()
	if err := rep.Stop(ctx); err != nil {
		b.Fatal(err)
	}
	if err := lease.Release(ctx); err != nil {
		b.Fatal(err)
	}
	waited += time.Since(t0)
	tm.StopTimer()
	final, _ := c.ReadFile("state.json")
	defer tm.StartTimer()
	return replayed{up: s.Uploaded.Load(), puts: s.Puts.Load(), naive: naive, journal: len(final), journalGz: len(gzipBytes(final)),
		waited: waited, background: background, length: end}
}

type nopTimer struct{}

func (nopTimer) StopTimer()  {}
func (nopTimer) StartTimer() {}
