package kind

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// ErrNoEngine is no container engine answering on this machine.
var ErrNoEngine = errors.New("no container engine is running")

// ErrLowMemory is a machine with less memory than the profile needs.
var ErrLowMemory = errors.New("not enough memory")

// MinMemoryGiB is the memory a local cluster of each profile needs.
var MinMemoryGiB = map[string]int{"minimal": 8, "standard": 16, "production": 32}

// engines are tried in kind's order of preference.
var engines = []string{"docker", "nerdctl", "podman"}

// Host is what the preflight asks of this machine.
type Host struct {
	// Engine names the container engine that answers, or says why none
	// does (an error wrapping ErrNoEngine).
	Engine func(ctx context.Context) (string, error)
	// MemTotal is the machine's memory in bytes.
	MemTotal func() (uint64, error)
}

// ThisHost asks the real machine: the engines' CLIs and /proc/meminfo.
func ThisHost() Host { return Host{Engine: DetectEngine, MemTotal: memTotal} }

// Preflight checks that a local cluster of profile can run here and
// returns the engine to run it on. Every failure is one line saying what
// is missing and what to do.
func Preflight(ctx context.Context, h Host, profile string) (string, error) {
	engine, err := h.Engine(ctx)
	if err != nil {
		return "", err
	}
	need := MinMemoryGiB[profile]
	if need == 0 || h.MemTotal == nil {
		return engine, nil
	}
	total, err := h.MemTotal()
	if err != nil {
		return engine, nil // not Linux, or no /proc: the engine will say
	}
	// Firmware and the kernel keep a little of the installed memory, so an
	// 8 GiB machine reports a bit less: allow 10%.
	if float64(total) < float64(need)*0.9*(1<<30) {
		return "", fmt.Errorf("%w: this machine has %.1f GiB of memory and a local cluster with --profile %s needs %d GiB; use a smaller profile or deploy to a provider with --provider latitude",
			ErrLowMemory, float64(total)/(1<<30), profile, need)
	}
	return engine, nil
}

// DetectEngine finds a container engine whose daemon answers (`<engine>
// info`), in kind's order of preference.
func DetectEngine(ctx context.Context) (string, error) {
	var installed []string
	for _, name := range engines {
		if _, err := exec.LookPath(name); err != nil {
			continue
		}
		installed = append(installed, name)
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := exec.CommandContext(ctx, name, "info").Run()
		cancel()
		if err == nil {
			return name, nil
		}
	}
	if len(installed) == 0 {
		return "", fmt.Errorf("%w: cto deploy --provider local needs Docker or Podman; install and start one (https://docs.docker.com/engine/install/), or deploy to a provider with --provider latitude", ErrNoEngine)
	}
	return "", fmt.Errorf("%w: %s is installed but does not answer (`%s info` fails); start it (e.g. `sudo systemctl start %s`, or open Docker Desktop), or deploy to a provider with --provider latitude",
		ErrNoEngine, strings.Join(installed, " and "), installed[0], installed[0])
}

func memTotal() (uint64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseUint(fields[1], 10, 64)
			if err != nil {
				return 0, err
			}
			return kb * 1024, nil
		}
	}
	return 0, errors.New("/proc/meminfo has no MemTotal")
}
