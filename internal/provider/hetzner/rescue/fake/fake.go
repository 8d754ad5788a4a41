// Package fake is an in-process SSH server standing in for a Hetzner rescue
// system: it accepts the logins its owner allows, answers lsblk with the
// machine's disks, and records every command; an image write is parsed so
// a test can see which disk it went to.
package fake

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"regexp"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"

	"github.com/cto-platform/cto/internal/provider/hetzner/rescue"
)

// Authorize decides a login: password or key is set, never both.
type Authorize func(user, password string, key ssh.PublicKey) bool

// Machine is what one rescue system sees and what was done to it.
type Machine struct {
	mu       sync.Mutex
	disks    []rescue.Disk
	commands []string
	written  map[string]string // disk -> image URL
	failNext bool
	onReboot func()
}

// NewMachine returns a machine with these disks.
func NewMachine(disks []rescue.Disk) *Machine {
	return &Machine{disks: disks, written: map[string]string{}}
}

// OnReboot is called when the rescue system runs reboot.
func (m *Machine) OnReboot(fn func()) { m.mu.Lock(); m.onReboot = fn; m.mu.Unlock() }

// FailNextWrite makes the next image write exit with an error.
func (m *Machine) FailNextWrite() { m.mu.Lock(); m.failNext = true; m.mu.Unlock() }

// Commands returns every command run, in order.
func (m *Machine) Commands() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.commands...)
}

// Written returns the image URL written to each disk.
func (m *Machine) Written() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.written)
}

var (
	writeDisk = regexp.MustCompile(`dd of=/dev/([a-z0-9]+)`)
	writeURL  = regexp.MustCompile(`curl [^|]*'([^']+)'`)
)

// run executes one command and returns output, stderr and exit status.
func (m *Machine) run(cmd string) (string, string, uint32) {
	m.mu.Lock()
	m.commands = append(m.commands, cmd)
	switch {
	case cmd == rescue.ListDisksCommand:
		out, _ := json.Marshal(map[string]any{"blockdevices": m.disks})
		m.mu.Unlock()
		return string(out), "", 0
	case strings.Contains(cmd, "| dd of=/dev/"):
		defer m.mu.Unlock()
		d, u := writeDisk.FindStringSubmatch(cmd), writeURL.FindStringSubmatch(cmd)
		if d == nil || u == nil {
			return "", "dd: bad command", 1
		}
		found := false
		for _, disk := range m.disks {
			found = found || disk.Name == d[1]
		}
		if !found {
			return "", fmt.Sprintf("dd: failed to open '/dev/%s': No such file or directory", d[1]), 1
		}
		if m.failNext {
			m.failNext = false
			return "", "xz: (stdin): Unexpected end of input", 1
		}
		m.written[d[1]] = u[1]
		return "", "", 0
	case cmd == "reboot":
		fn := m.onReboot
		m.mu.Unlock()
		if fn != nil {
			fn()
		}
		return "", "", 0
	}
	m.mu.Unlock()
	return "", "bash: " + strings.Fields(cmd + " x")[0] + ": command not found", 127
}

// Server is one rescue system's SSH endpoint.
type Server struct {
	ln      net.Listener
	machine *Machine
	cfg     *ssh.ServerConfig
	ready   func() bool
	wg      sync.WaitGroup
}

// Start listens on a loopback port for machine's rescue system.
func Start(machine *Machine, authorize Authorize) (*Server, error) {
	return StartWhen(machine, authorize, nil)
}

// StartWhen is Start for a rescue system that is not always up: while
// ready says false, connections are dropped at once, as a server still
// booting would.
func StartWhen(machine *Machine, authorize Authorize, ready func() bool) (*Server, error) {
	return StartAt("127.0.0.1:0", machine, authorize, ready)
}

// StartAt is StartWhen listening on addr, e.g. the server's own loopback
// address in a simulated datacenter.
func StartAt(addr string, machine *Machine, authorize Authorize, ready func() bool) (*Server, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	cfg := &ssh.ServerConfig{
		PasswordCallback: func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if authorize(c.User(), string(pw), nil) {
				return nil, nil
			}
			return nil, fmt.Errorf("password rejected")
		},
		PublicKeyCallback: func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if authorize(c.User(), "", key) {
				return nil, nil
			}
			return nil, fmt.Errorf("key rejected")
		},
	}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, machine: machine, cfg: cfg, ready: ready}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the host:port to dial.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops listening and waits for open connections' handlers to end.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.serve(conn)
	}
}

func (s *Server) serve(conn net.Conn) {
	defer conn.Close()
	if s.ready != nil && !s.ready() {
		return
	}
	sc, chans, reqs, err := ssh.NewServerConn(conn, s.cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go s.session(ch, creqs)
	}
}

func (s *Server) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" || len(req.Payload) < 4 {
			req.Reply(false, nil)
			continue
		}
		n := binary.BigEndian.Uint32(req.Payload)
		cmd := string(req.Payload[4 : 4+n])
		req.Reply(true, nil)
		out, errOut, code := s.machine.run(cmd)
		ch.Write([]byte(out))
		ch.Stderr().Write([]byte(errOut))
		status := make([]byte, 4)
		binary.BigEndian.PutUint32(status, code)
		ch.SendRequest("exit-status", false, status)
		return
	}
}
