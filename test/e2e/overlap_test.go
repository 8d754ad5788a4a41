package e2e

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"

	latfake "github.com/cto-platform/cto/internal/provider/latitude/fake"
	"github.com/cto-platform/cto/test/sim"
	"github.com/cto-platform/cto/test/simworld"
)

// A server that deploys late holds back only itself within the machines
// step: the nodes already up take their Talos config while the servers
// phase still waits for it. The steps after it run in order, once every
// node has its config.
func TestNodesTakeTheirConfigWhileAServerStillDeploys(t *testing.T) {
	w := newWorld(t, sim.Options{Latitude: latfake.Faults{StuckHostnames: map[string]int{"late-worker2": 1}}})
	r := w.MustRun(append(simworld.DeployArgs("late", "minimal", 3), "-o", "json")...)

	configured := map[string]bool{} // nodes configured before the servers step finished
	serversDone, talosDone, platformEarly := false, false, false
	sc := bufio.NewScanner(strings.NewReader(r.Stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct{ Step, Event, Node, Status string }
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("stdout line is not JSON: %q: %v", sc.Text(), err)
		}
		switch {
		case e.Step == "servers" && e.Event == "step_finished":
			serversDone = true
		case e.Step == "talos" && e.Status == "configured" && !serversDone:
			configured[e.Node] = true
		case e.Step == "talos" && e.Event == "step_finished":
			talosDone = true
		case e.Step == "platform" && !talosDone:
			platformEarly = true
		}
	}
	if !serversDone {
		t.Fatalf("no step_finished event of the servers step:\n%s", r)
	}
	if !configured["late-cp1"] || !configured["late-worker1"] {
		t.Errorf("configured before the late server was up: %v; want late-cp1 and late-worker1", configured)
	}
	if configured["late-worker2"] {
		t.Error("late-worker2 took its config before its replacement server was up")
	}
	if platformEarly {
		t.Error("the platform step started before the machines step was over")
	}
	j := w.Journal("late")
	for _, n := range j.NodesCopy() {
		if n.Name == "late-worker2" && len(n.Replaced) != 1 {
			t.Errorf("late-worker2 replaced %v, want its stuck server once", n.Replaced)
		}
	}
	w.checkCluster("late", "minimal", 3, 1)
}
