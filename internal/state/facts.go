package state

import (
	"encoding/json"
	"maps"
	"strings"
)

// Facts are the single values a deploy keeps for its reruns. Never
// secrets. On disk they are one flat object, state.json's "facts", keyed
// as the json tags say; keys this version does not know are kept as they
// were.
type Facts struct {
	// Region is the site the servers were ordered in (validate).
	Region string `json:"region,omitempty"`
	// CostMonthly, CostHourly and Currency are the estimate shown before
	// anything was ordered (validate).
	CostMonthly string `json:"cost_monthly,omitempty"`
	CostHourly  string `json:"cost_hourly,omitempty"`
	Currency    string `json:"currency,omitempty"`
	// Endpoint is the Kubernetes API host; VIP the layer-2 address on the
	// private VLAN when the control planes carry one (talos).
	Endpoint string `json:"talos.endpoint,omitempty"`
	VIP      string `json:"talos.vip,omitempty"`
	// APILoadBalancer is the address of the provider's load balancer in
	// front of the control planes, used instead of a VIP.
	APILoadBalancer string `json:"talos.api_load_balancer,omitempty"`
	// Bootstrap is "intent:<node>" before the Bootstrap call and "done"
	// once etcd runs; it keeps bootstrap to exactly one node.
	Bootstrap string `json:"talos.bootstrap,omitempty"`
	// DNSAPIName is the API's DNS name when the cluster has a domain.
	DNSAPIName string `json:"dns_api_name,omitempty"`
	// LocalCluster is the kind cluster's name; LocalCNI the CNI it came
	// with ("" means cto installs Cilium).
	LocalCluster string `json:"local_cluster,omitempty"`
	LocalCNI     string `json:"cni,omitempty"`
	// LicenseID and LicenseFingerprint name the license the cluster was
	// deployed with; the token itself is never kept.
	LicenseID          string `json:"license_id,omitempty"`
	LicenseFingerprint string `json:"license_fingerprint,omitempty"`
	// GitHubRepo is the repository the platform's GitOps source was
	// asked for once.
	GitHubRepo string `json:"github_repo,omitempty"`
	// Operation is the day-2 command under way ("upgrade talos v1.13.9"),
	// set when it starts and cleared when it finishes: a failed or stopped
	// one stays, for status and for its rerun to resume.
	Operation string `json:"operation,omitempty"`
	// CheapestChoice is the ranked row `--provider cheapest` took, as JSON.
	CheapestChoice string `json:"cheapest.choice,omitempty"`
	// Schematics maps a schematic's content address to its Image Factory
	// ID: one per distinct set of extensions, so a cluster whose
	// components change gets a new one.
	Schematics map[string]string `json:"-"`

	other map[string]string
}

// schematicKey prefixes a schematic's content address on disk.
const schematicKey = "talos.schematic."

// factsFields is Facts without its methods, for the plain fields.
type factsFields Facts

func (f Facts) MarshalJSON() ([]byte, error) {
	plain, err := json.Marshal(factsFields(f))
	if err != nil {
		return nil, err
	}
	flat := map[string]string{}
	if err := json.Unmarshal(plain, &flat); err != nil {
		return nil, err
	}
	maps.Copy(flat, f.other)
	for id, v := range f.Schematics {
		flat[schematicKey+id] = v
	}
	return json.Marshal(flat)
}

func (f *Facts) UnmarshalJSON(data []byte) error {
	var flat map[string]string
	if err := json.Unmarshal(data, &flat); err != nil {
		return err
	}
	var plain factsFields
	if err := json.Unmarshal(data, &plain); err != nil {
		return err
	}
	*f = Facts(plain)
	known, err := json.Marshal(plain)
	if err != nil {
		return err
	}
	var set map[string]string
	if err := json.Unmarshal(known, &set); err != nil {
		return err
	}
	for k, v := range flat {
		switch {
		case strings.HasPrefix(k, schematicKey):
			if f.Schematics == nil {
				f.Schematics = map[string]string{}
			}
			f.Schematics[strings.TrimPrefix(k, schematicKey)] = v
		case set[k] == "" && v != "":
			if f.other == nil {
				f.other = map[string]string{}
			}
			f.other[k] = v
		}
	}
	return nil
}

// clone is a copy that shares no map with f.
func (f Facts) clone() Facts {
	f.Schematics = maps.Clone(f.Schematics)
	f.other = maps.Clone(f.other)
	return f
}

// FactsCopy returns a copy of the journal's facts.
func (j *Journal) FactsCopy() Facts {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.Facts.clone()
}

// SetFacts changes the journal's facts with fn and saves the journal.
func (j *Journal) SetFacts(fn func(f *Facts)) error {
	return j.Update(func(j *Journal) { fn(&j.Facts) })
}
