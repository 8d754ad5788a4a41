// Package try runs scripts/try.sh as a newcomer would: a whole deploy on the
// simulated datacenter, then a look at the cluster, then everything it
// started gone.
package try

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// script is scripts/try.sh in this checkout.
func script(t *testing.T) (path, root string) {
	_, file, _, _ := runtime.Caller(0)
	root = filepath.Join(filepath.Dir(file), "..", "..")
	return filepath.Join(root, "scripts", "try.sh"), root
}

// requireKubeBinaries skips when the test Kubernetes binaries are not
// built (try.sh would spend many minutes building them), except under
// CI=true, where scripts/test.sh builds them first and a skip would hide
// a missing step.
func requireKubeBinaries(t *testing.T, root string) {
	out, err := exec.Command(filepath.Join(root, "scripts", "kubeenv.sh"), "missing").Output()
	if err == nil {
		return
	}
	ci := strings.ToLower(os.Getenv("CI"))
	if ci == "true" || ci == "1" {
		t.Fatalf("the test Kubernetes binaries are not built (missing: %s); scripts/test.sh builds them before the tests", bytes.TrimSpace(out))
	}
	t.Skipf("the test Kubernetes binaries are not built (missing: %s): run scripts/kubeenv.sh", bytes.TrimSpace(out))
}

// run is one try.sh process in a session of its own, as a terminal would
// start it, with $TMPDIR a folder of the test's.
type run struct {
	cmd    *exec.Cmd
	tmp    string
	mu     sync.Mutex
	out    bytes.Buffer
	lines  chan string
	done   chan struct{}
	code   int
	waited error
}

func start(t *testing.T, args ...string) *run {
	return startWith(t, nil, args...)
}

// startWith starts try.sh with more environment variables.
func startWith(t *testing.T, env []string, args ...string) *run {
	path, root := script(t)
	requireKubeBinaries(t, root)
	// Not t.TempDir: the test checks this folder is empty at the end, and
	// removes it itself.
	tmp, err := os.MkdirTemp("", "cto-try-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	r := &run{tmp: tmp, lines: make(chan string, 4096), done: make(chan struct{})}
	r.cmd = exec.Command("bash", append([]string{path}, args...)...)
	r.cmd.Dir = root
	r.cmd.Env = append(append(os.Environ(), "TMPDIR="+tmp), env...)
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	pr, pw := io.Pipe()
	r.cmd.Stdout, r.cmd.Stderr = pw, pw
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			r.mu.Lock()
			r.out.WriteString(sc.Text() + "\n")
			r.mu.Unlock()
			select {
			case r.lines <- sc.Text():
			default:
			}
		}
		close(r.lines)
	}()
	go func() {
		r.waited = r.cmd.Wait()
		r.code = r.cmd.ProcessState.ExitCode()
		pw.Close()
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
			<-r.done
		}
		r.killLeftovers()
	})
	return r
}

// wait waits for try.sh to end, for at most limit.
func (r *run) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(limit):
		t.Fatalf("try.sh did not end within %s; output so far:\n%s", limit, r.output())
	}
	for range r.lines {
	}
	return r.code
}

func (r *run) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

// waitFor reads the output until a line matches, for at most limit.
func (r *run) waitFor(t *testing.T, re *regexp.Regexp, limit time.Duration) string {
	t.Helper()
	deadline := time.After(limit)
	for {
		select {
		case line, ok := <-r.lines:
			if !ok {
				t.Fatalf("try.sh ended before printing a line like %q:\n%s", re, r.output())
			}
			if re.MatchString(line) {
				return line
			}
		case <-deadline:
			t.Fatalf("no line like %q within %s:\n%s", re, limit, r.output())
		}
	}
}

// leftovers lists the processes still running in the session try.sh led,
// or naming the test's $TMPDIR (the datacenter runs in a session of its
// own, and it and everything it starts run from or keep data there).
func leftovers(sid int, tmp string) []string {
	var left []string
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// Fields after the command's closing parenthesis: state ppid pgrp session.
		i := bytes.LastIndexByte(data, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(data[i+1:]))
		if len(f) < 4 || f[0] == "Z" {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "cmdline"))
		if f[3] != strconv.Itoa(sid) && !bytes.Contains(cmd, []byte(tmp)) {
			continue
		}
		left = append(left, filepath.Base(filepath.Dir(p))+" "+strings.ReplaceAll(string(cmd), "\x00", " "))
	}
	return left
}

func (r *run) killLeftovers() {
	for _, m := range leftovers(r.cmd.Process.Pid, r.tmp) {
		if pid, err := strconv.Atoi(strings.Fields(m)[0]); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// checkNothingLeft asserts that no process of try.sh's session runs on and
// that its temporary folders are gone.
func (r *run) checkNothingLeft(t *testing.T) {
	t.Helper()
	var left []string
	for i := 0; i < 300; i++ { // the datacenter takes a moment to stop what it started
		if left = leftovers(r.cmd.Process.Pid, r.tmp); len(left) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("processes left running after try.sh:\n%s", strings.Join(left, "\n"))
	}
	entries, err := os.ReadDir(r.tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind in $TMPDIR: %s", e.Name())
	}
}

func TestTryDeploysLooksAndCleansUp(t *testing.T) {
	r := start(t)
	if code := r.wait(t, 20*time.Minute); code != 0 {
		t.Fatalf("try.sh exit %d:\n%s", code, r.output())
	}
	out := r.output()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`Cluster "cto" is ready`),
		regexp.MustCompile(`(?m)^Estimated cost: [0-9.]+ USD per month$`), // cto status
		regexp.MustCompile(`(?m)^cto-cp1\s+Ready\s+control-plane`),        // kubectl get nodes
		regexp.MustCompile(`(?m)^argocd\s+prometheus\s+Synced\s+Healthy`), // kubectl get applications
		regexp.MustCompile(`(?m)^-rw-------.* kubeconfig$`),               // the files, private
		regexp.MustCompile(`Destroying the simulated cluster`),
		regexp.MustCompile(`nothing is left running`),
	} {
		if !want.MatchString(out) {
			t.Errorf("the output has no line like %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
	r.checkNothingLeft(t)
}

// Ctrl-C in the middle of the deploy: the terminal sends SIGINT to the
// whole foreground process group; try.sh still destroys and stops all.
func TestTryCtrlCCleansUp(t *testing.T) {
	r := start(t)
	r.waitFor(t, regexp.MustCompile(`^==> cto deploy `), 15*time.Minute)
	// Once the first server is ordered, there is something to destroy.
	r.waitFor(t, regexp.MustCompile(`cto-cp1`), 2*time.Minute)
	if err := syscall.Kill(-r.cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	code := r.wait(t, 5*time.Minute)
	out := r.output()
	if code != 130 {
		t.Errorf("try.sh exit %d after Ctrl-C, want 130", code)
	}
	// The deploy was cut short, and what it had ordered was destroyed.
	for _, want := range []string{"Destroying the simulated cluster", `Cluster "cto" is destroyed`, "Stopping the simulated datacenter"} {
		if !strings.Contains(out, want) {
			t.Errorf("the output does not say %q", want)
		}
	}
	if strings.Contains(out, `Cluster "cto" is ready`) {
		t.Errorf("the deploy finished before the interrupt reached it")
	}
	if strings.Contains(out, "destroy failed") {
		t.Errorf("destroy failed after Ctrl-C")
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
	r.checkNothingLeft(t)
}

// A deploy that fails: every server ends in failed_deployment, however
// often cto replaces it. try.sh fails, and still destroys and stops all.
func TestTryFailedDeployCleansUp(t *testing.T) {
	r := startWith(t, []string{"CTO_SIM_FLAGS=-fail-deploys 20"})
	code := r.wait(t, 20*time.Minute)
	out := r.output()
	if code == 0 {
		t.Errorf("try.sh exit 0 although every server failed to deploy")
	}
	for _, want := range []string{"failed_deployment", "Destroying the simulated cluster", `Cluster "cto" is destroyed`, "Stopping the simulated datacenter", "try.sh failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("the output does not say %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
	r.checkNothingLeft(t)
}

// --keep leaves the datacenter and the cluster up, and the lines it prints
// are enough to use them and then to stop everything.
func TestTryKeepPrintsWorkingLines(t *testing.T) {
	r := start(t, "--keep")
	if code := r.wait(t, 20*time.Minute); code != 0 {
		t.Fatalf("try.sh --keep exit %d:\n%s", code, r.output())
	}
	out := r.output()
	i := strings.Index(out, "To use them by hand:")
	if i < 0 {
		t.Fatalf("try.sh --keep prints no lines to use the datacenter:\n%s", out)
	}
	// The printed lines, run as printed.
	var lines []string
	for _, l := range strings.Split(out[i:], "\n") {
		if strings.HasPrefix(l, "  ") && strings.TrimSpace(l) != "" {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	sh := strings.Join(lines, "\n")
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", sh)
	cmd.Env = append(os.Environ(), "TMPDIR="+r.tmp)
	got, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the printed lines failed: %v\n%s\n%s", err, sh, got)
	}
	for _, want := range []string{"Cluster cto (provider latitude)", "cto-cp1", "prometheus"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("the printed lines' output does not show %q:\n%s", want, got)
		}
	}
	r.checkNothingLeft(t)
}
