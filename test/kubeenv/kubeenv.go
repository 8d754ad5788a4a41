// Package kubeenv runs a real etcd and kube-apiserver on loopback for tests
// that talk to Kubernetes and, with Options.Workloads, the real
// kube-controller-manager and kube-scheduler with KWOK running the nodes
// AddNode registers. The binaries come from scripts/kubeenv.sh. The
// platform's own controllers (Argo CD and others) are doubles in
// test/controllers.
package kubeenv

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Versions of the binaries scripts/kubeenv.sh builds.
const (
	EtcdVersion       = "v3.6.6"
	KubernetesVersion = "v1.36.3"
)

// ErrNoBinaries means the test binaries are not built.
var ErrNoBinaries = errors.New("the test etcd and kube-apiserver are not built; run scripts/kubeenv.sh")

// Env is one running etcd + kube-apiserver.
type Env struct {
	// Kubeconfig is the path of an admin kubeconfig (token auth).
	Kubeconfig string
	// Server is the API server's URL.
	Server string
	// Token is the admin bearer token.
	Token string

	dir   string
	procs []*exec.Cmd
	logs  []*os.File
	once  sync.Once
}

// BinDir is where the binaries are: $CTO_KUBEENV_BIN, else
// ~/.cache/cto-kubeenv/bin.
func BinDir() string {
	if d := os.Getenv("CTO_KUBEENV_BIN"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "cto-kubeenv", "bin")
}

// Options choose what runs besides etcd and kube-apiserver.
type Options struct {
	// Workloads also runs kube-controller-manager, kube-scheduler and KWOK,
	// with the API server's admission configured as Talos configures it:
	// workloads get pods, admission admits or forbids them, the scheduler
	// places them on the nodes AddNode registers, and KWOK runs them.
	Workloads bool
}

// Start runs etcd and kube-apiserver on free loopback ports with a fresh data
// folder and waits until the API server is ready. Stop ends both.
func Start(ctx context.Context) (*Env, error) { return StartWith(ctx, Options{}) }

// StartWith is Start with options.
func StartWith(ctx context.Context, opts Options) (*Env, error) {
	bin := BinDir()
	etcdBin := filepath.Join(bin, "etcd-"+EtcdVersion)
	apiBin := filepath.Join(bin, "kube-apiserver-"+KubernetesVersion)
	need := []string{etcdBin, apiBin}
	if opts.Workloads {
		need = append(need, workloadBinaries(bin)...)
	}
	for _, b := range need {
		if _, err := os.Stat(b); err != nil {
			return nil, fmt.Errorf("%w (missing %s)", ErrNoBinaries, b)
		}
	}
	dir, err := os.MkdirTemp("", "cto-kubeenv-")
	if err != nil {
		return nil, err
	}
	e := &Env{dir: dir}
	ok := false
	defer func() {
		if !ok {
			e.Stop()
		}
	}()

	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	client := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	if err := e.spawn("etcd", etcdBin,
		"--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "default="+peer,
		"--log-level", "error",
	); err != nil {
		return nil, err
	}

	certDir := filepath.Join(dir, "certs")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, err
	}
	pub, key, err := serviceAccountKeys(dir)
	if err != nil {
		return nil, err
	}
	e.Token = randomHex(16)
	tokens := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(e.Token+",admin,admin,system:masters\n"), 0o600); err != nil {
		return nil, err
	}
	e.Server = fmt.Sprintf("https://127.0.0.1:%d", ports[2])
	var extra []string
	if opts.Workloads {
		admission, err := talosAdmission(dir)
		if err != nil {
			return nil, err
		}
		extra = append(extra, "--admission-control-config-file", admission)
	}
	if err := e.spawn("kube-apiserver", apiBin, append([]string{
		"--etcd-servers", client,
		"--bind-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(ports[2]),
		"--cert-dir", certDir,
		"--token-auth-file", tokens,
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", pub,
		"--service-account-signing-key-file", key,
		"--authorization-mode", "RBAC",
		"--service-cluster-ip-range", "10.96.0.0/16",
		// Talos runs kube-apiserver with allow-privileged true (its
		// control-plane controller's default arguments, as kubeadm's);
		// without it no privileged container is accepted anywhere.
		"--allow-privileged=true",
	}, extra...)...); err != nil {
		return nil, err
	}
	e.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(e.Kubeconfig, []byte(e.kubeconfig()), 0o600); err != nil {
		return nil, err
	}
	if err := e.waitReady(ctx, 3*time.Minute); err != nil {
		return nil, err
	}
	if opts.Workloads {
		if err := e.startWorkloads(bin, key, certDir); err != nil {
			return nil, err
		}
	}
	ok = true
	return e, nil
}

func (e *Env) kubeconfig() string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: kubeenv
  cluster:
    server: %s
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: %s
contexts:
- name: kubeenv
  context:
    cluster: kubeenv
    user: admin
current-context: kubeenv
`, e.Server, e.Token)
}

func (e *Env) spawn(name, bin string, args ...string) error {
	logf, err := os.Create(filepath.Join(e.dir, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	e.procs = append(e.procs, cmd)
	e.logs = append(e.logs, logf)
	return nil
}

// waitReady polls /readyz until it answers ok.
func (e *Env) waitReady(ctx context.Context, limit time.Duration) error {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(limit)
	var last string
	for time.Now().Before(deadline) {
		for _, p := range e.procs {
			if p.ProcessState != nil {
				return fmt.Errorf("%s exited; see %s", filepath.Base(p.Path), e.dir)
			}
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.Server+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+e.Token)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("kube-apiserver not ready after %s (last: %s); its log ends: %s", limit, last, e.logTail("kube-apiserver", 800))
}

// logTail is the last n bytes of a process's log, for errors that must
// say why a process did not come up after its folder is removed.
func (e *Env) logTail(name string, n int64) string {
	b, err := os.ReadFile(filepath.Join(e.dir, name+".log"))
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
	}
	return strings.TrimSpace(string(b))
}

// Stop ends the processes and removes the data folder. It is safe to call
// more than once.
func (e *Env) Stop() {
	if e == nil {
		return
	}
	e.once.Do(func() {
		for i := len(e.procs) - 1; i >= 0; i-- {
			p := e.procs[i]
			p.Process.Signal(os.Interrupt)
			done := make(chan struct{})
			go func() { p.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				p.Process.Kill()
				<-done
			}
		}
		for _, f := range e.logs {
			f.Close()
		}
		os.RemoveAll(e.dir)
	})
}

// serviceAccountKeys writes the RSA key pair kube-apiserver signs service
// account tokens with.
func serviceAccountKeys(dir string) (pub, key string, err error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return "", "", err
	}
	pub = filepath.Join(dir, "sa.pub")
	key = filepath.Join(dir, "sa.key")
	if err := os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), 0o600); err != nil {
		return "", "", err
	}
	return pub, key, nil
}

// freePorts reserves n loopback ports by listening and closing.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// inCI reports whether the tests run in continuous integration, where a
// missing environment is a failure, not a skip.
func inCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1"
}
