package rescue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cto-platform/cto/internal/clock"
)

// AddrFromEnv reads the rescue systems' SSH port from the environment
// variable env, where a simulated datacenter serves them elsewhere, and
// returns how to reach a server's rescue system: nil, for the default port
// 22, when env is unset.
func AddrFromEnv(env string) (func(ip string) string, error) {
	port := os.Getenv(env)
	if port == "" {
		return nil, nil
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return nil, fmt.Errorf("%s %q is not a port number; unset it to use 22", env, port)
	}
	return func(ip string) string { return net.JoinHostPort(ip, port) }, nil
}

// DefaultAddr is a server's rescue SSH address on the default port.
func DefaultAddr(ip string) string { return ip + ":22" }

// Auth is how to log into a rescue system: the one-time root password the
// API returned, or the private key whose public half was activated.
type Auth struct {
	Password string
	Signer   ssh.Signer
}

// Session is an SSH connection to a rescue system.
type Session struct {
	client *ssh.Client
}

// Dial connects to a rescue system as root, trying every few seconds until
// it answers (it boots for a minute or two after the reset) or ctx ends.
// A refused login is not retried: the rescue system is up and the
// credentials are wrong.
//
// The host key is not checked: every rescue boot generates a new one, and
// nothing secret crosses the connection besides the one-time rescue
// credentials.
func Dial(ctx context.Context, clk clock.Clock, addr string, auth Auth) (*Session, error) {
	cfg := &ssh.ClientConfig{
		User:            "root",
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         15 * time.Second,
	}
	if auth.Signer != nil {
		cfg.Auth = append(cfg.Auth, ssh.PublicKeys(auth.Signer))
	}
	if auth.Password != "" {
		cfg.Auth = append(cfg.Auth, ssh.Password(auth.Password))
	}
	var last error
	deadline := clk.Now().Add(bootWait)
	for {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c, chans, reqs, herr := ssh.NewClientConn(conn, addr, cfg)
			if herr == nil {
				return &Session{client: ssh.NewClient(c, chans, reqs)}, nil
			}
			conn.Close()
			if strings.Contains(herr.Error(), "unable to authenticate") {
				return nil, fmt.Errorf("log into the rescue system at %s: %w", addr, herr)
			}
			err = herr
		}
		last = err
		if clk.Now().After(deadline) {
			return nil, fmt.Errorf("the rescue system at %s did not answer within %s: %v", addr, bootWait, last)
		}
		if serr := clk.Sleep(ctx, 5*time.Second); serr != nil {
			return nil, fmt.Errorf("the rescue system at %s did not answer (%v): %w", addr, last, serr)
		}
	}
}

// bootWait is how long a rescue system may take to answer after a reset.
const bootWait = 10 * time.Minute

// Close ends the connection.
func (s *Session) Close() error { return s.client.Close() }

// CommandError is a command that failed on the rescue system, with what it
// printed.
type CommandError struct {
	Command string
	Output  string
	Err     error
}

func (e *CommandError) Error() string {
	out := strings.TrimSpace(e.Output)
	if len(out) > 300 {
		out = out[len(out)-300:]
	}
	return fmt.Sprintf("rescue command %q: %v: %s", e.Command, e.Err, out)
}

func (e *CommandError) Unwrap() error { return e.Err }

// Run runs one command and returns its standard output.
func (s *Session) Run(ctx context.Context, cmd string) (string, error) {
	sess, err := s.client.NewSession()
	if err != nil {
		return "", fmt.Errorf("open a rescue session: %w", err)
	}
	defer sess.Close()
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	go func() { done <- sess.Run(cmd) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		sess.Close()
		return "", ctx.Err()
	}
	if err != nil {
		return stdout.String(), &CommandError{Command: cmd, Output: stderr.String(), Err: err}
	}
	return stdout.String(), nil
}

// Disk is one block device the rescue system sees.
type Disk struct {
	Name       string `json:"name"`
	SizeBytes  int64  `json:"size"`
	Type       string `json:"type"`
	Model      string `json:"model,omitempty"`
	Serial     string `json:"serial,omitempty"`
	Rotational bool   `json:"rota"`
	Removable  bool   `json:"rm"`
	Transport  string `json:"tran,omitempty"`
}

// ListDisksCommand asks lsblk for the whole disks, sizes in bytes, as JSON.
const ListDisksCommand = "lsblk --json --bytes --nodeps --output NAME,SIZE,TYPE,MODEL,SERIAL,ROTA,RM,TRAN"

// Disks lists the block devices.
func (s *Session) Disks(ctx context.Context) ([]Disk, error) {
	out, err := s.Run(ctx, ListDisksCommand)
	if err != nil {
		return nil, err
	}
	return ParseDisks([]byte(out))
}

// ParseDisks reads lsblk's JSON, whose versions print numbers and booleans
// either bare or as strings.
func ParseDisks(data []byte) ([]Disk, error) {
	var raw struct {
		BlockDevices []map[string]any `json:"blockdevices"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("read the rescue system's disk list: %w", err)
	}
	var out []Disk
	for _, d := range raw.BlockDevices {
		out = append(out, Disk{
			Name: str(d["name"]), SizeBytes: int64(num(d["size"])), Type: str(d["type"]), Model: strings.TrimSpace(str(d["model"])),
			Serial: str(d["serial"]), Rotational: boolean(d["rota"]), Removable: boolean(d["rm"]), Transport: str(d["tran"]),
		})
	}
	return out, nil
}

func str(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}

func num(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case string:
		f, _ := strconv.ParseFloat(x, 64)
		return f
	}
	return 0
}

func boolean(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return x == "1" || x == "true"
	case float64:
		return x != 0
	}
	return false
}

// minInstallDisk is the smallest disk Talos is put on.
const minInstallDisk = 8 << 30

// ErrNoDisk is a rescue system without a disk Talos fits on.
var ErrNoDisk = errors.New("no disk to install Talos on")

// ChooseInstallDisk picks the disk Talos goes on: a whole, fixed disk of at
// least 8 GiB; solid state before spinning; then the smallest (the OS disk,
// leaving big disks to storage); NVMe before others of the same size; then
// the lowest name, so the choice is the same on every run.
func ChooseInstallDisk(disks []Disk) (Disk, error) {
	var cand []Disk
	for _, d := range disks {
		if d.Type != "disk" || d.Removable || d.SizeBytes < minInstallDisk || !diskName.MatchString(d.Name) {
			continue
		}
		cand = append(cand, d)
	}
	if len(cand) == 0 {
		return Disk{}, fmt.Errorf("%w among %d devices", ErrNoDisk, len(disks))
	}
	sort.SliceStable(cand, func(a, b int) bool {
		x, y := cand[a], cand[b]
		if x.Rotational != y.Rotational {
			return !x.Rotational
		}
		if x.SizeBytes != y.SizeBytes {
			return x.SizeBytes < y.SizeBytes
		}
		if (x.Transport == "nvme") != (y.Transport == "nvme") {
			return x.Transport == "nvme"
		}
		return x.Name < y.Name
	})
	return cand[0], nil
}

var diskName = regexp.MustCompile(`^[a-z][a-z0-9]*$`)

// WriteImageCommand is the shell command that streams an xz-compressed raw
// image onto a disk, after clearing the disk's old signatures.
func WriteImageCommand(imageURL, disk string) (string, error) {
	if !diskName.MatchString(disk) {
		return "", fmt.Errorf("disk name %q is not a plain device name", disk)
	}
	if strings.ContainsAny(imageURL, "'\n") || !strings.HasPrefix(imageURL, "http") {
		return "", fmt.Errorf("image URL %q cannot be passed to the rescue shell", imageURL)
	}
	dev := "/dev/" + disk
	return fmt.Sprintf("set -o pipefail; wipefs --all --force %s >/dev/null && curl -fsSL --retry 3 '%s' | xz -d | dd of=%s bs=4M conv=fsync status=none && sync", dev, imageURL, dev), nil
}

// WriteImage streams the image at imageURL onto disk.
func (s *Session) WriteImage(ctx context.Context, imageURL, disk string) error {
	cmd, err := WriteImageCommand(imageURL, disk)
	if err != nil {
		return err
	}
	_, err = s.Run(ctx, cmd)
	return err
}

// Reboot restarts the server from its disk. The connection drops with the
// command, so its error is not one.
func (s *Session) Reboot(ctx context.Context) error {
	_, err := s.Run(ctx, "reboot")
	var ce *CommandError
	var exitMissing *ssh.ExitMissingError
	if err == nil || errors.As(err, &exitMissing) || (errors.As(err, &ce) && errors.As(ce.Err, &exitMissing)) {
		return nil
	}
	return err
}
