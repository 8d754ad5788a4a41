// Command latitude-fake serves the Latitude.sh API double on loopback, for
// trying cto by hand or driving it from another process:
//
//	latitude-fake -listen 127.0.0.1:8089 -speed 60
//	LATITUDESH_API_URL=http://127.0.0.1:8089 LATITUDESH_AUTH_TOKEN=fake-token cto plans --provider latitude
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/provider/latitude/fake"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8089", "loopback address to listen on")
	token := flag.String("token", "fake-token", "API token the fake accepts")
	speed := flag.Float64("speed", 1, "simulated time runs this many times faster than the wall clock")
	deploy := flag.Duration("deploy-time", 10*time.Minute, "simulated time a server takes to deploy")
	ipBase := flag.String("ip-base", "127.20.0.10", "first primary_ipv4 handed out")
	rate429 := flag.Float64("rate-limit-rate", 0, "share of requests answered 429 (0..1)")
	failNext := flag.Int("fail-next", 0, "the next N servers end in failed_deployment")
	offSpec := flag.Bool("off-spec-status", false, "report starting_deploy and inventory while deploying")
	flag.Parse()

	host, _, err := net.SplitHostPort(*listen)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fmt.Fprintf(os.Stderr, "-listen %q must be a loopback address (127.0.0.0/8)\n", *listen)
		os.Exit(2)
	}
	var clk clock.Clock = clock.Real{}
	if *speed != 1 {
		clk = clock.NewScaled(*speed)
	}
	f := fake.New(fake.Options{Token: *token, Clock: clk, DeployTime: *deploy, IPBase: *ipBase})
	f.SetFaults(func(x *fake.Faults) {
		x.RateLimitRate, x.FailNext, x.OffSpecStatus = *rate429, *failNext, *offSpec
	})
	log.Printf("Latitude.sh API double on http://%s (token %q, state at /_fake/state)", *listen, *token)
	log.Fatal(http.ListenAndServe(*listen, f))
}
