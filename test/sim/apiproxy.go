package sim

import (
	"io"
	"net"
	"net/url"
	"slices"
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

	mu   sync.Mutex
	open map[net.Conn]bool // cut when the machine goes away
}

func (s *Sim) startAPIProxy(ip string, node *talosfake.Node) (*apiProxy, error) {
	lis, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(KubernetesAPIPort)))
	if err != nil {
		return nil, err
	}
	p := &apiProxy{lis: lis, node: node, sim: s, open: map[net.Conn]bool{}}
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
		if !p.track(c) {
			c.Close()
			return
		}
		go func() {
			defer p.untrack(c)
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

// serving: a control plane's kube-apiserver answers once the machine
// runs, except while its static pod restarts on a new image, its own etcd member runs (Talos points kube-apiserver at the
// local member) and the cluster's etcd has a quorum: the bootstrapped
// control plane BootstrapTime after Bootstrap, the others once they
// joined; a control plane that reboots, or a cluster whose etcd lost its
// quorum, serves nothing. A load balancer's proxy (no node) serves while
// any running control plane does.
func (p *apiProxy) serving() bool {
	if p.node != nil {
		return p.sim.apiServes(p.node)
	}
	p.sim.mu.Lock()
	var nodes []*talosfake.Node
	for _, n := range p.sim.nodes {
		nodes = append(nodes, n.node)
	}
	p.sim.mu.Unlock()
	return slices.ContainsFunc(nodes, p.sim.apiServes)
}

// apiServes says whether a node's kube-apiserver answers.
func (s *Sim) apiServes(n *talosfake.Node) bool {
	if cfg := n.Config(); cfg == nil || !cfg.Machine().Type().IsControlPlane() || n.Rebooting() || n.Halted() {
		return false
	}
	if s.staticPodRestarting(n.Name, kubeAPIServer) {
		return false // its kube-apiserver restarts on a new image
	}
	return s.etcdMember(n)
}

// etcdMember says whether a node's etcd member runs in a cluster that
// keeps its quorum.
func (s *Sim) etcdMember(n *talosfake.Node) bool {
	members := s.etcd.Members(n)
	healthy, self := 0, false
	for _, m := range members {
		if m.Healthy {
			healthy++
			self = self || m.Hostname == n.Name
		}
	}
	return self && healthy >= len(members)/2+1
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

// close stops serving and cuts every open connection, as a machine that
// is gone does.
func (p *apiProxy) close() {
	p.lis.Close()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.open {
		c.Close()
	}
	p.open = nil
}

// track records an open connection; false once the proxy is closed.
func (p *apiProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open == nil {
		return false
	}
	p.open[c] = true
	return true
}

func (p *apiProxy) untrack(c net.Conn) {
	c.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.open, c)
}
