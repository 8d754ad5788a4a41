package fake

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/constants"
)

// etcd's errors as its client reports them (go.etcd.io/etcd/api
// v3rpc/rpctypes error.go): Talos wraps them in plain errors, so gRPC
// answers them with code Unknown.
var (
	errEtcdNoLeader         = errors.New("etcdserver: no leader")
	errEtcdUnhealthy        = errors.New("etcdserver: unhealthy cluster")
	errEtcdNotEnoughStarted = errors.New("etcdserver: re-configuration failed due to not enough started members")
	errEtcdMemberNotFound   = errors.New("etcdserver: member not found")
)

// Etcd stands in for the etcd clusters of the control planes of one
// simulated datacenter, shared like Trustd: Bootstrap makes a control
// plane the first member of its cluster's etcd (the cluster is told by
// its etcd CA), and every other control plane configured with the same
// secrets joins once it is up and the cluster has a leader, as Talos's
// etcd service does (services/etcd.go, buildInitialCluster and
// addMember: a member of the same hostname left from an earlier install
// is removed first). A member is healthy while its node runs etcd: not
// rebooting, stopped or wiped, and not removed.
//
// It records, at the moment a member goes down or is removed, whether the
// healthy members fell below the quorum of the membership of that moment
// (QuorumLosses, MinHealthyMargin), so tests can assert that etcd never
// lost quorum.
type Etcd struct {
	mu       sync.Mutex
	clusters map[string]*etcdCluster // by etcd CA certificate
	losses   []string
	margin   int
	measured bool
	removed  []string
}

type etcdCluster struct {
	members []*etcdMember
	// candidates are the control planes configured with the cluster's
	// secrets, members or not.
	candidates []*Node
	ids        int
}

// candidate makes n a control plane that may join (or be) this etcd.
func (c *etcdCluster) candidate(n *Node) {
	if !slices.Contains(c.candidates, n) {
		c.candidates = append(c.candidates, n)
	}
}

type etcdMember struct {
	id   uint64
	name string
	ip   string
	node *Node
}

func (e *Etcd) cluster(key string) *etcdCluster {
	if e.clusters == nil {
		e.clusters = map[string]*etcdCluster{}
	}
	c := e.clusters[key]
	if c == nil {
		c = &etcdCluster{}
		e.clusters[key] = c
	}
	return c
}

// register makes a configured control plane a candidate member.
func (e *Etcd) register(key string, n *Node) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cluster(key).candidate(n)
}

// bootstrap starts a new etcd cluster with n as its only member, as
// Talos's Bootstrap does on a node whose etcd data directory is empty
// (the etcd service starts with initial-cluster-state=new).
func (e *Etcd) bootstrap(key string, n *Node) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.cluster(key)
	c.candidate(n)
	c.members = []*etcdMember{c.newMember(key, n)}
}

func (c *etcdCluster) newMember(key string, n *Node) *etcdMember {
	c.ids++
	sum := sha256.Sum256([]byte(key + n.Name + strconv.Itoa(c.ids)))
	return &etcdMember{id: binary.BigEndian.Uint64(sum[:8]) | 1, name: n.Name, ip: n.ip.String(), node: n}
}

// healthy counts the members whose node runs etcd.
func (c *etcdCluster) healthy() int {
	h := 0
	for _, m := range c.members {
		if m.node.etcdRunning() {
			h++
		}
	}
	return h
}

// quorum is raft's majority of n voting members.
func quorum(n int) int { return n/2 + 1 }

func (c *etcdCluster) hasLeader() bool {
	return len(c.members) > 0 && c.healthy() >= quorum(len(c.members))
}

// sync lets the candidates whose etcd is up but not a member join, while
// the cluster has a leader (MemberAddAsLearner needs one; Talos promotes
// the learner once it caught up, which the double does at once).
func (c *etcdCluster) sync(key string) {
	if !c.hasLeader() {
		return
	}
	for _, n := range c.candidates {
		if c.member(n) != nil || !n.etcdCanJoin(key) {
			continue
		}
		c.members = slices.DeleteFunc(c.members, func(m *etcdMember) bool { return m.name == n.Name && !m.node.etcdRunning() })
		c.members = append(c.members, c.newMember(key, n))
	}
}

func (c *etcdCluster) member(n *Node) *etcdMember {
	for _, m := range c.members {
		if m.node == n {
			return m
		}
	}
	return nil
}

// of finds the cluster n is a member of, synced.
func (e *Etcd) of(n *Node) (string, *etcdCluster) {
	key := n.etcdKey()
	if key == "" || e.clusters[key] == nil {
		return "", nil
	}
	c := e.clusters[key]
	c.sync(key)
	return key, c
}

// changed records, at a member's going down or removal, whether the
// healthy members fell below the quorum of the membership.
func (e *Etcd) changed(c *etcdCluster, at time.Time, why string) {
	if len(c.members) == 0 {
		return
	}
	h, q := c.healthy(), quorum(len(c.members))
	if !e.measured || h-q < e.margin {
		e.margin, e.measured = h-q, true
	}
	if h < q {
		e.losses = append(e.losses, fmt.Sprintf("%s: %s: %d of %d members healthy, quorum is %d", at.UTC().Format(time.RFC3339), why, h, len(c.members), q))
	}
}

// down is told that n stopped running etcd (it rebooted, stopped or was
// wiped).
func (e *Etcd) down(n *Node, why string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for key, c := range e.clusters {
		c.sync(key)
		if c.member(n) != nil {
			e.changed(c, n.now(), n.Name+" "+why)
		}
	}
}

// QuorumLosses lists the moments a member's going down or removal left
// fewer healthy members than the quorum of the membership, with why.
func (e *Etcd) QuorumLosses() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.losses)
}

// MinHealthyMargin is the least number of healthy members above quorum
// seen at a member's going down or removal (negative: quorum was lost);
// ok is false when no member ever went down.
func (e *Etcd) MinHealthyMargin() (margin int, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.margin, e.measured
}

// Removed lists the members removed from a cluster, as "hostname (id)".
func (e *Etcd) Removed() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.removed)
}

// EtcdMember is one member as Members reports it.
type EtcdMember struct {
	ID       uint64
	Hostname string
	Healthy  bool
}

// Members lists the etcd members of the cluster node n belongs to.
func (e *Etcd) Members(n *Node) []EtcdMember {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, c := e.of(n)
	if c == nil {
		return nil
	}
	var out []EtcdMember
	for _, m := range c.members {
		out = append(out, EtcdMember{ID: m.id, Hostname: m.name, Healthy: m.node.etcdRunning()})
	}
	return out
}

// list answers EtcdMemberList on n: from a running member, every member
// with the URLs Talos advertises (peer port 2380, client port 2379).
func (e *Etcd) list(n *Node) ([]*machine.EtcdMember, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, c := e.of(n)
	if c == nil || c.member(n) == nil || !n.etcdRunning() {
		return nil, errEtcdNotRunning
	}
	if !c.hasLeader() {
		return nil, errEtcdNoLeader
	}
	var out []*machine.EtcdMember
	for _, m := range c.members {
		out = append(out, &machine.EtcdMember{Id: m.id, Hostname: m.name,
			PeerUrls:   []string{"https://" + net.JoinHostPort(m.ip, strconv.Itoa(constants.EtcdPeerPort))},
			ClientUrls: []string{"https://" + net.JoinHostPort(m.ip, strconv.Itoa(constants.EtcdClientPort))}})
	}
	return out, nil
}

var errEtcdNotRunning = errors.New("etcd is not running")

// errDeadline is how a quorum read through a member that is down ends
// (clientv3 returns the context's error): gRPC answers it with code
// DeadlineExceeded.
var errDeadline = context.DeadlineExceeded

// remove removes member id through n's etcd, with etcd's checks
// (etcdserver server.go, mayRemoveMember, strict reconfiguration check
// on): the request needs a leader; the last member cannot go (not enough
// started members); a member that is down can always go; otherwise the
// members connected to the one answering, less one, must still make a
// quorum of the membership less one, or it is refused as unhealthy.
func (e *Etcd) remove(n *Node, id uint64, why string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, c := e.of(n)
	if c == nil || !n.etcdRunning() && c.member(n) == nil {
		return errEtcdNoLeader
	}
	if !c.hasLeader() {
		return errEtcdNoLeader
	}
	i := slices.IndexFunc(c.members, func(m *etcdMember) bool { return m.id == id })
	if i < 0 {
		return errEtcdMemberNotFound
	}
	target := c.members[i]
	if len(c.members) == 1 {
		return errEtcdNotEnoughStarted
	}
	if target.node.etcdRunning() || target.node == n {
		active := c.healthy()
		if active-1 < 1+(len(c.members)-1)/2 {
			return errEtcdUnhealthy
		}
	}
	c.members = slices.Delete(c.members, i, i+1)
	e.removed = append(e.removed, fmt.Sprintf("%s (%016x)", target.name, target.id))
	target.node.etcdRemoved(target.node == n)
	e.changed(c, n.now(), target.name+" "+why)
	return nil
}

// localID is n's member id, 0 when it is none.
func (e *Etcd) localID(n *Node) uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, c := e.of(n); c != nil {
		if m := c.member(n); m != nil {
			return m.id
		}
	}
	return 0
}

// validateForUpgrade is Talos's etcd pre-upgrade check (internal/pkg/etcd
// etcd.go, ValidateForUpgrade, after tryLockUpgradeMutex needs a leader):
// two members cannot keep quorum while one upgrades; every member must be
// healthy (a quorum read through its client URL, which times out for one
// that is down).
func (e *Etcd) validateForUpgrade(n *Node) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, c := e.of(n)
	if c == nil || !c.hasLeader() {
		return fmt.Errorf("failed to acquire upgrade mutex: error establishing etcd concurrency session: %w", errDeadline)
	}
	if len(c.members) == 2 {
		return fmt.Errorf("error validating etcd for upgrade: etcd member count(%d) is insufficient to maintain quorum if upgrade commences", len(c.members))
	}
	for _, m := range c.members {
		if !m.node.etcdRunning() {
			return fmt.Errorf("error validating etcd for upgrade: etcd member %016x is not healthy; all members must be healthy to perform an upgrade: %w", m.id, errDeadline)
		}
	}
	return nil
}

// status is EtcdStatus's member status on n: its id and the leader's
// (the first healthy member).
func (e *Etcd) status(n *Node) (*machine.EtcdMemberStatus, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, c := e.of(n)
	if c == nil || c.member(n) == nil || !n.etcdRunning() {
		return nil, fmt.Errorf("failed to query etcd status: %w", errDeadline)
	}
	st := &machine.EtcdMemberStatus{MemberId: c.member(n).id, ProtocolVersion: constants.DefaultEtcdVersion[1:],
		StorageVersion: "3.6.0"}
	if c.hasLeader() {
		for _, m := range c.members {
			if m.node.etcdRunning() {
				st.Leader = m.id
				break
			}
		}
	}
	return st, nil
}
