package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/provider/latitude/fake"
)

// -f on a device that never ends, or on a file past the cap, is one line
// and exit 2, read no further than the cap.
func TestDeployConfigFileSizeCapped(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.yaml")
	body := "apiVersion: cto.dev/v1alpha1\nkind: Cluster\n# " + strings.Repeat("x", 2<<20) + "\n"
	if err := os.WriteFile(big, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/dev/zero", big} {
		start := time.Now()
		code, stdout, stderr := run(t, "--state-dir", t.TempDir(), "deploy", "-f", path)
		if code != ExitBadInput || !strings.Contains(stderr, "larger than 1 MiB") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("deploy -f %s: exit %d, want 2 with one line saying it is too large\nstdout: %s\nstderr: %s", path, code, stdout, stderr)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("deploy -f %s took %s", path, d)
		}
	}
}

// -f on a FIFO nobody writes to blocks in open(2); an interrupt (the
// command's context ending, as SIGINT does in Main) stops it at once with
// exit 130.
func TestDeployConfigFIFOInterruptible(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Unblock the read left behind so the test binary exits cleanly.
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	var out, errOut bytes.Buffer
	start := time.Now()
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, []string{"--state-dir", t.TempDir(), "deploy", "-f", fifo})
	}()
	select {
	case code := <-done:
		if code != ExitInterrupted || !strings.Contains(errOut.String(), "interrupted") {
			t.Errorf("exit %d, want 130\nstderr: %s", code, errOut.String())
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("the interrupt took %s to stop the read", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("deploy -f on a FIFO ignored the interrupt for 10s")
	}
}

// The same through the process: the built cto, given SIGINT or SIGTERM while
// -f waits on a FIFO nobody writes to, exits 130 at once saying so.
func TestDeployConfigFIFOSignalled(t *testing.T) {
	bin := buildCTO(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		fifo := filepath.Join(t.TempDir(), "cluster.yaml")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd, out := ctoCmd(bin, t.TempDir(), "deploy", "-f", fifo)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// Blocked in open(2) by now: the binary's start (its packages'
		// init, then the signal handler) takes well under a second, even
		// on a loaded machine.
		time.Sleep(3 * time.Second)
		start := time.Now()
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
			if code := cmd.ProcessState.ExitCode(); code != ExitInterrupted || !strings.Contains(out.String(), "interrupted") {
				t.Errorf("%v: exit %d, want 130 saying it was interrupted\n%s", sig, code, out)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("%v took %s to stop the read", sig, d)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("deploy -f on a FIFO ignored %v for 10s", sig)
		}
	}
}

// An --api-url that is not an http(s) URL, or plain http to a host other
// than loopback (the token would travel in clear text), is refused at once
// with exit 2 naming the flag, before any request.
func TestAPIURLCheckedBeforeAnyRequest(t *testing.T) {
	_, factory := latitudeEnv(t)
	bad := []struct{ url, want string }{
		{"ht!tp://bad url", "is not a URL"},
		{"ftp://example.com/api", "is not an http or https URL"},
		{"http://api.example.com", "clear text"},
		{"http://10.0.0.1:8080", "clear text"},
		{"https://user:pw@api.example.com", "must not carry a user"},
	}
	for _, c := range bad {
		for _, args := range [][]string{
			{"deploy", "--provider", "latitude", "--plan", "c2-small-x86", "--region", "DAL", "--image-factory-url", factory, "--yes"},
			{"deploy", "--provider", "latitude", "--plan", "c2-small-x86", "--region", "DAL", "--dry-run"},
			{"plans", "--provider", "latitude"},
			{"regions", "--provider", "latitude"},
			{"destroy", "--name", "x", "--provider", "latitude", "--yes"},
		} {
			dir := t.TempDir()
			start := time.Now()
			code, stdout, stderr := run(t, append(append([]string{"--state-dir", dir}, args...), "--api-url", c.url)...)
			if code != ExitBadInput || !strings.Contains(stderr, "--api-url") || !strings.Contains(stderr, c.want) ||
				strings.Count(strings.TrimSpace(stderr), "\n") != 0 || stdout != "" {
				t.Errorf("%v --api-url %q: exit %d, want 2 with one line naming --api-url and %q\nstdout: %s\nstderr: %s", args, c.url, code, c.want, stdout, stderr)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("%v --api-url %q took %s: retried instead of refused", args, c.url, d)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Errorf("%v --api-url %q created %v", args, c.url, entries)
			}
		}
	}
	// The provider's variable is held to the same rule.
	t.Setenv("LATITUDESH_API_URL", "http://api.example.com")
	code, _, stderr := run(t, "--state-dir", t.TempDir(), "plans", "--provider", "latitude")
	if code != ExitBadInput || !strings.Contains(stderr, "LATITUDESH_API_URL") || !strings.Contains(stderr, "clear text") {
		t.Errorf("LATITUDESH_API_URL over plain http: exit %d\n%s", code, stderr)
	}
}

// Plain http to loopback stays allowed (a local proxy, the test doubles).
func TestAPIURLPlainHTTPToLoopbackAllowed(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:8080", "http://localhost:1/api", "http://[::1]:80", "https://api.latitude.sh"} {
		if err := checkAPIURL("--api-url", u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}

// A site the provider does not have is the user's typo, not a plan out of
// stock: exit 2 naming it and listing the sites the double has, for deploy
// (dry run or not, --region or --fallback-regions) and plans.
func TestUnknownRegionListsTheSites(t *testing.T) {
	f, factory := latitudeEnv(t)
	var sites []string
	for _, s := range fake.Sites {
		sites = append(sites, s.Slug)
	}
	if len(sites) < 2 {
		t.Fatalf("the double has sites %v", sites)
	}
	deploy := []string{"deploy", "--provider", "latitude", "--plan", "c2-small-x86", "--image-factory-url", factory}
	cases := []struct {
		args []string
		want string
	}{
		{append(append([]string{}, deploy...), "--region", "NOWHERE-XYZ", "--dry-run"), `region "NOWHERE-XYZ" is not a site of latitude`},
		{append(append([]string{}, deploy...), "--region", "NOWHERE-XYZ", "--yes"), `region "NOWHERE-XYZ" is not a site of latitude`},
		{append(append([]string{}, deploy...), "--region", "DAL", "--fallback-regions", "NYC,NOWHERE", "--yes"), `fallbackRegions "NOWHERE" is not a site of latitude`},
		{[]string{"plans", "--provider", "latitude", "--region", "NOWHERE-XYZ"}, `--region "NOWHERE-XYZ" is not a site of latitude`},
	}
	for _, c := range cases {
		dir := t.TempDir()
		code, stdout, stderr := run(t, append([]string{"--state-dir", dir}, c.args...)...)
		if code != ExitBadInput || !strings.Contains(lastLine(stderr), c.want) || strings.Count(stderr, "ERROR: ") != 1 || stdout != "" {
			t.Errorf("%v: exit %d, want 2 with one ERROR line saying %q\nstdout: %s\nstderr: %s", c.args, code, c.want, stdout, stderr)
			continue
		}
		for _, s := range sites {
			if !strings.Contains(stderr, s) {
				t.Errorf("%v: the error does not list site %s: %s", c.args, s, stderr)
			}
		}
		if entries, _ := os.ReadDir(filepath.Join(dir, "clusters")); len(entries) > 0 {
			t.Errorf("%v left a cluster folder", c.args)
		}
	}
	if n := len(f.State().Servers); n != 0 {
		t.Errorf("a refused deploy created %d servers", n)
	}
}

// lastLine is the last line of a command's stderr: the ERROR line, after
// the progress lines of the steps that ran.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
