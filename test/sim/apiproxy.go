package sim

import (
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"

	talosfake "github.com/cto-platform/cto/internal/talos/fake"
)

// KubernetesAPIPort is where a control plane serves the Kubernetes API.
const KubernetesAPIPort = 6443

// apiProxy makes a node's address:6443 the cluster's API server, as a
// real control plane's kube-apiserver would be: once the node is a
// configured control plane of a bootstrapped cluster, connections are
// passed to the datacenter's one kube-apiserver; before that they are
// refused.
type apiProxy struct {
	lis  net.Listener
	node *talosfake.Node
	sim  *Sim
	wg   sync.WaitGroup
}

func (s *Sim) startAPIProxy(ip string, node *talosfake.Node) (*apiProxy, error) {
	lis, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(KubernetesAPIPort)))
	if err != nil {
		return nil, err
	}
	p := &apiProxy{lis: lis, node: node, sim: s}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

func (p *apiProxy) serve() {
	defer p.wg.Done()
	u, _ := url.Parse(p.sim.kube.Server)
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return
		}
		if !p.serving() {
			c.Close()
			continue
		}
		go func() {
			defer c.Close()
			up, err := net.Dial("tcp", u.Host)
			if err != nil {
				return
			}
			defer up.Close()
			go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite() }()
			io.Copy(c, up)
		}()
	}
}

// serving: the node is a control plane and the API server of its cluster
// answers (etcd runs, BootstrapTime after Bootstrap). A
// load balancer's proxy (no node) serves while any control plane does.
func (p *apiProxy) serving() bool {
	if p.node == nil {
		cp := false
		for _, n := range p.sim.Nodes() {
			cp = cp || (n.Running && n.Role == "controlplane")
		}
		if !cp {
			return false
		}
	} else if cfg := p.node.Config(); cfg == nil || cfg.Machine().Type().String() != "controlplane" {
		return false
	}
	for _, n := range p.sim.Nodes() {
		if n.Running && n.Bootstrapped && n.APIServerUp {
			return true
		}
	}
	return false
}

// loadBalancer forwards a Hetzner Cloud load balancer's API port to the
// control planes while it exists.
func (s *Sim) loadBalancer(ip string, up bool) {
	s.mu.Lock()
	old := s.lbs[ip]
	delete(s.lbs, ip)
	closed := s.closed
	s.mu.Unlock()
	if old != nil {
		old.close() // outside the lock: its connections ask for Nodes
	}
	if !up || closed {
		return
	}
	p, err := s.startAPIProxy(ip, nil)
	if err != nil {
		s.logf("load balancer %s: cannot serve the Kubernetes API: %v", ip, err)
		return
	}
	s.mu.Lock()
	s.lbs[ip] = p
	s.mu.Unlock()
	s.logf("load balancer %s forwards the Kubernetes API to the control planes", ip)
}

func (p *apiProxy) close() {
	p.lis.Close()
	p.wg.Wait()
}
