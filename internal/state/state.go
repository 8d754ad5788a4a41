// Package state keeps everything cto knows about a cluster in one folder
// under the state directory: the journal (state.json), secrets (0600) and a
// lock that keeps two commands from working on one cluster at once.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"
)

// SchemaVersion is written into every journal. A journal from a newer cto is
// refused rather than half-understood.
const SchemaVersion = 1

const journalFile = "state.json"

// ErrCorrupt marks a journal that exists but cannot be read. It is reported
// and never overwritten.
var ErrCorrupt = errors.New("state file is corrupt")

// DefaultDir is the state directory: $CTO_HOME, else ~/.cto.
func DefaultDir() string {
	if d := os.Getenv("CTO_HOME"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ".cto"
	}
	return filepath.Join(home, ".cto")
}

var clusterName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// Cluster is the state folder of one cluster.
type Cluster struct {
	Name string
	Dir  string
}

// Open returns the folder of cluster name under root, creating it (0700)
// when create is true; then root and its clusters folder are made 0700 too. Without create a missing folder is os.ErrNotExist.
func Open(root, name string, create bool) (*Cluster, error) {
	if !clusterName.MatchString(name) {
		return nil, fmt.Errorf("cluster name %q is not a DNS label (lower-case letters, digits and '-')", name)
	}
	dir := filepath.Join(root, "clusters", name)
	if create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create state folder: %w", err)
		}
		// MkdirAll keeps the mode of folders that already exist: the
		// state directory (CTO_HOME) may have been made 0755 by hand, and
		// it holds every cluster's secrets.
		for _, d := range []string{root, filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o700); err != nil {
				return nil, fmt.Errorf("secure state folder %s: %w", d, err)
			}
		}
	} else if _, err := os.Stat(dir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no cluster %q in %s: %w", name, root, os.ErrNotExist)
		}
		return nil, err
	}
	return &Cluster{Name: name, Dir: dir}, nil
}

// List returns the names of the clusters under root.
func List(root string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(root, "clusters"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// Path returns the path of a file in the cluster's folder.
func (c *Cluster) Path(name string) string { return filepath.Join(c.Dir, name) }

// Exists reports whether the cluster has a journal.
func (c *Cluster) Exists() bool {
	_, err := os.Stat(c.Path(journalFile))
	return err == nil
}

// Load reads the journal. A missing journal is a fresh one; an unreadable
// one is ErrCorrupt and the file is left as it is.
func (c *Cluster) Load() (*Journal, error) {
	data, err := os.ReadFile(c.Path(journalFile))
	if errors.Is(err, os.ErrNotExist) {
		return NewJournal(c.Name), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", c.Path(journalFile), err)
	}
	j := &Journal{}
	if err := json.Unmarshal(data, j); err != nil {
		return nil, fmt.Errorf("%w: %s: %v (fix or move it away; cto will not overwrite it)", ErrCorrupt, c.Path(journalFile), err)
	}
	if j.SchemaVersion > SchemaVersion {
		return nil, fmt.Errorf("%s was written by a newer cto (schema %d, this one reads %d): upgrade cto", c.Path(journalFile), j.SchemaVersion, SchemaVersion)
	}
	if j.Cluster != c.Name {
		return nil, fmt.Errorf("%w: %s names cluster %q, expected %q", ErrCorrupt, c.Path(journalFile), j.Cluster, c.Name)
	}
	j.path = c.Path(journalFile)
	return j, nil
}

// WriteFile writes data atomically (temp file, fsync, rename, fsync of the
// folder) with mode perm. A crash leaves either the old or the new content.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// WriteSecret stores a secret file (0600) in the cluster's folder.
func (c *Cluster) WriteSecret(name string, data []byte) error {
	if err := WriteFile(c.Path(name), data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// ReadFile reads a file of the cluster's folder; a missing one is
// os.ErrNotExist.
func (c *Cluster) ReadFile(name string) ([]byte, error) { return os.ReadFile(c.Path(name)) }

// Remove deletes the cluster's whole folder, and the folders above it that
// it leaves empty.
func (c *Cluster) Remove() error {
	if err := os.RemoveAll(c.Dir); err != nil {
		return err
	}
	clusters := filepath.Dir(c.Dir)
	if os.Remove(clusters) == nil {
		os.Remove(filepath.Dir(clusters))
	}
	return nil
}

// StepStatus is where a pipeline step stands.
type StepStatus string

const (
	StepRunning StepStatus = "running"
	StepDone    StepStatus = "done"
	StepFailed  StepStatus = "failed"
)

// StepRecord is the journal entry of one step.
type StepRecord struct {
	Status     StepStatus `json:"status"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt time.Time  `json:"finished_at,omitzero"`
	Error      string     `json:"error,omitempty"`
}

// Node is one server of the cluster as the journal knows it.
type Node struct {
	Name      string `json:"name"` // hostname, e.g. cto-cp1
	Role      string `json:"role"` // controlplane | worker
	Index     int    `json:"index"`
	ServerID  string `json:"server_id,omitempty"`
	Status    string `json:"status,omitempty"`
	PublicIP  string `json:"public_ip,omitempty"`
	PrivateIP string `json:"private_ip,omitempty"`
	// PublicMAC and PrivateMAC name the NICs that carry the public address
	// and the private network, as the provider reports them ("" when it
	// does not): the Talos config selects its links by them.
	PublicMAC  string `json:"public_mac,omitempty"`
	PrivateMAC string `json:"private_mac,omitempty"`
	// Replaced lists server IDs this node had before, deleted because they
	// failed or got stuck.
	Replaced []string `json:"replaced,omitempty"`
	// Configured is set once the node proved it runs our Talos config.
	Configured bool `json:"configured,omitempty"`
	// TalosVersion and KubernetesVersion are the versions the node runs
	// as cto last set or saw them ("v1.13.9", "v1.36.3").
	TalosVersion      string `json:"talos_version,omitempty"`
	KubernetesVersion string `json:"kubernetes_version,omitempty"`
}

// ResourceKind is what a journaled resource is.
type ResourceKind string

// The kinds of resource a deploy journals.
const (
	KindServer     ResourceKind = "server"
	KindNetwork    ResourceKind = "network"
	KindAssignment ResourceKind = "network_assignment"
	KindDNSRecord  ResourceKind = "dns_record"
	// KindLoadBalancer is a provider's load balancer in front of the
	// control planes (provider.APILoadBalancer).
	KindLoadBalancer ResourceKind = "load_balancer"
)

// Resource is anything the provider bills or keeps for the cluster:
// servers, networks, assignments, load balancers, DNS records.
type Resource struct {
	Kind      ResourceKind      `json:"kind"`
	ID        string            `json:"id"`
	Name      string            `json:"name,omitempty"`
	Region    string            `json:"region,omitempty"`
	Status    string            `json:"status,omitempty"`
	Attrs     map[string]string `json:"attrs,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	DeletedAt time.Time         `json:"deleted_at,omitzero"`
}

// Journal is state.json: the single record of what a deploy did. All
// methods are safe for concurrent use; Save writes it atomically.
type Journal struct {
	mu   sync.Mutex
	path string

	SchemaVersion int                    `json:"schema_version"`
	Cluster       string                 `json:"cluster"`
	Provider      string                 `json:"provider,omitempty"`
	Spec          json.RawMessage        `json:"spec,omitempty"`
	Steps         map[string]*StepRecord `json:"steps"`
	Nodes         []*Node                `json:"nodes,omitempty"`
	Resources     []*Resource            `json:"resources,omitempty"`
	// Facts holds single values steps need on a rerun (schematic ID,
	// bootstrap intent, endpoint...). Never secrets.
	Facts     Facts     `json:"facts,omitzero"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// NewJournal returns an empty journal for a cluster.
func NewJournal(cluster string) *Journal {
	return &Journal{SchemaVersion: SchemaVersion, Cluster: cluster, Steps: map[string]*StepRecord{}}
}

// Save writes the journal into the cluster's folder.
func (c *Cluster) Save(j *Journal) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.path = c.Path(journalFile)
	return j.saveLocked()
}

func (j *Journal) saveLocked() error {
	if j.path == "" {
		return errors.New("journal has no folder: save it with Cluster.Save first")
	}
	now := time.Now().UTC()
	if j.CreatedAt.IsZero() {
		j.CreatedAt = now
	}
	j.UpdatedAt = now
	data, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	if err := WriteFile(j.path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("save journal: %w", err)
	}
	return nil
}

// Update runs fn with the journal locked, then saves it. Steps record every
// resource ID through Update so it reaches the disk before anything waits
// on it.
func (j *Journal) Update(fn func(j *Journal)) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	fn(j)
	return j.saveLocked()
}

// View runs fn with the journal locked, for a consistent read.
func (j *Journal) View(fn func(j *Journal)) {
	j.mu.Lock()
	defer j.mu.Unlock()
	fn(j)
}

// Step returns a copy of a step's record.
func (j *Journal) Step(name string) (StepRecord, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	r, ok := j.Steps[name]
	if !ok {
		return StepRecord{}, false
	}
	return *r, true
}

// NodeLocked returns the node with a name, or nil. Call it inside Update or
// View only.
func (j *Journal) NodeLocked(name string) *Node {
	for _, n := range j.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// NodesCopy returns a snapshot of the nodes.
func (j *Journal) NodesCopy() []Node {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]Node, len(j.Nodes))
	for i, n := range j.Nodes {
		out[i] = *n
		out[i].Replaced = append([]string(nil), n.Replaced...)
	}
	return out
}

// AddResource records a resource (replacing one of the same kind and ID).
func (j *Journal) AddResource(r Resource) error {
	return j.Update(func(j *Journal) {
		if r.CreatedAt.IsZero() {
			r.CreatedAt = time.Now().UTC()
		}
		for i, old := range j.Resources {
			if old.Kind == r.Kind && old.ID == r.ID {
				j.Resources[i] = &r
				return
			}
		}
		j.Resources = append(j.Resources, &r)
	})
}

// SetResourceStatus records a resource's latest provider status, so the
// journal does not keep the one it had when it was created.
func (j *Journal) SetResourceStatus(kind ResourceKind, id, status string) error {
	return j.Update(func(j *Journal) {
		for _, r := range j.Resources {
			if r.Kind == kind && r.ID == id {
				r.Status = status
			}
		}
	})
}

// MarkDeleted records that a resource is gone.
func (j *Journal) MarkDeleted(kind ResourceKind, id string) error {
	return j.Update(func(j *Journal) {
		for _, r := range j.Resources {
			if r.Kind == kind && r.ID == id && r.DeletedAt.IsZero() {
				r.DeletedAt = time.Now().UTC()
			}
		}
	})
}

// LiveResources returns copies of the resources of a kind ("" for all) that
// are not marked deleted.
func (j *Journal) LiveResources(kind ResourceKind) []Resource {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []Resource
	for _, r := range j.Resources {
		if (kind == "" || r.Kind == kind) && r.DeletedAt.IsZero() {
			out = append(out, *r)
		}
	}
	return out
}
