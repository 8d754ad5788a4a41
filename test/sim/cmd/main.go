// Command cmd runs the simulated datacenter until SIGINT or SIGTERM:
//
//	go run ./test/sim/cmd [flags]
//
// It prints one `export KEY=VALUE` line per variable cto needs, then
// `ready`. See docs/simulation.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	latfake "github.com/cto-platform/cto/internal/provider/latitude/fake"
	"github.com/cto-platform/cto/test/sim"
)

func main() {
	var o sim.Options
	var failHosts, stuckHosts, quota string
	var verbose bool
	fs := flag.CommandLine
	fs.Float64Var(&o.Speed, "speed", 600, "simulated seconds per wall second (600: a 10-minute deploy takes a second)")
	fs.DurationVar(&o.DeployTime, "deploy-time", 10*time.Minute, "how long a server takes to deploy (simulated)")
	fs.DurationVar(&o.ConnectTime, "connect-time", 30*time.Second, "how long a VLAN assignment stays connecting (simulated)")
	fs.DurationVar(&o.InstallTime, "install-time", 2*time.Minute, "how long a node installs Talos and reboots after its config (simulated; negative: at once)")
	fs.DurationVar(&o.BootstrapTime, "bootstrap-time", 3*time.Minute, "how long etcd and the API server take after bootstrap (simulated; negative: at once)")
	fs.DurationVar(&o.APILatency, "api-latency", 0, "delay of every Latitude answer (wall time)")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the Latitude double's IDs and faults")
	fs.StringVar(&o.Zone, "zone", "example.test", "DNS zone the Cloudflare double serves")
	fs.IntVar(&o.RobotServers, "robot-servers", 3, "how many dedicated servers the Hetzner Robot account rents")
	fs.BoolVar(&o.LatitudeNoDHCP, "latitude-no-dhcp", false, "the Latitude account boots custom images without DHCP (cto needs LATITUDESH_NO_DHCP=true)")
	fs.BoolVar(&o.HetznerNoTalosISO, "hetzner-no-talos-iso", false, "Hetzner Cloud offers no public Talos ISO (cto builds a snapshot)")
	// Faults of the Latitude double.
	fs.StringVar(&quota, "rate-limit", "", `Latitude's per-minute request quota, answered 429 with Retry-After past it: "published" (60 reads and 20 writes a minute, the documented figure) or READS/WRITES`)
	fs.IntVar(&o.Latitude.ServerErrorBurst, "server-errors", 0, "answer the next N Latitude requests 503")
	fs.IntVar(&o.Latitude.FailNext, "fail-deploys", 0, "the next N created servers end in failed_deployment")
	fs.StringVar(&failHosts, "fail-hosts", "", "comma-separated hostnames whose first deploy fails")
	fs.IntVar(&o.Latitude.StuckNext, "stuck-deploys", 0, "the next N created servers deploy forever")
	fs.StringVar(&stuckHosts, "stuck-hosts", "", "comma-separated hostnames whose first deploy never ends")
	fs.BoolVar(&o.Latitude.OffSpecStatus, "off-spec-status", false, "report starting_deploy and inventory before deploying")
	fs.IntVar(&o.Latitude.LoseCreateAnswers, "lose-create-answers", 0, "create the next N servers but answer 502")
	// Faults of the Talos nodes.
	fs.BoolVar(&o.Talos.ApplyHangs, "talos-apply-hangs", false, "nodes take their config and never answer the apply")
	fs.IntVar(&o.Talos.BootstrapFailures, "talos-bootstrap-failures", 0, "the first N Bootstrap calls of a node fail (time not in sync)")
	fs.BoolVar(&o.Talos.StayInMaintenance, "talos-stay-in-maintenance", false, "nodes accept configs but never leave maintenance mode")
	fs.BoolVar(&verbose, "v", false, "log what the datacenter does to stderr")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: go run ./test/sim/cmd [flags]\n\nRuns a simulated datacenter on loopback and prints the environment that points cto at it.\n\n")
		fs.PrintDefaults()
	}
	flag.Parse()
	q, err := parseQuota(quota)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sim: -rate-limit:", err)
		os.Exit(2)
	}
	o.LatitudeQuota = q
	o.Latitude.FailHostnames = hostCounts(failHosts)
	o.Latitude.StuckHostnames = hostCounts(stuckHosts)
	if verbose {
		o.Logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, "sim: "+format+"\n", args...) }
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	s, err := sim.Start(startCtx, o)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sim:", err)
		os.Exit(1)
	}
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Printf("export %s=%s\n", k, shellQuote(v))
	}
	fmt.Println("ready")
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "sim: stopping")
	s.Close()
}

// parseQuota reads -rate-limit: "" is no quota, "published" the
// documented one (latfake.PublishedQuota), else READS/WRITES per minute.
func parseQuota(v string) (latfake.Quota, error) {
	switch v {
	case "":
		return latfake.Quota{}, nil
	case "published":
		return latfake.PublishedQuota, nil
	}
	r, w, ok := strings.Cut(v, "/")
	reads, err1 := strconv.Atoi(r)
	writes, err2 := strconv.Atoi(w)
	if !ok || err1 != nil || err2 != nil || reads <= 0 || writes <= 0 {
		return latfake.Quota{}, fmt.Errorf(`%q: want "published" or READS/WRITES per minute, such as 60/20`, v)
	}
	return latfake.Quota{ReadsPerMinute: reads, WritesPerMinute: writes}, nil
}

func hostCounts(list string) map[string]int {
	out := map[string]int{}
	for _, h := range strings.Split(list, ",") {
		if h = strings.TrimSpace(h); h != "" {
			out[h]++
		}
	}
	return out
}

// shellQuote quotes a value for `eval`.
func shellQuote(v string) string {
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}
