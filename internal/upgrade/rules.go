// Package upgrade moves a running cluster to new versions: Talos node by
// node, Kubernetes component by component, and the platform's charts. It
// checks the version rules before anything runs and journals each node as
// it finishes, so a rerun resumes where a failure or a kill stopped it.
package upgrade

import (
	"fmt"
	"slices"
	"strings"

	"github.com/blang/semver/v4"
	machineapi "github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/compatibility"
)

// parse reads a version with or without its "v".
func parse(what, v string) (semver.Version, error) {
	s, err := semver.Parse(strings.TrimPrefix(strings.TrimSpace(v), "v"))
	if err != nil {
		return semver.Version{}, fmt.Errorf("%s version %q is not a version like v1.2.3", what, v)
	}
	return s, nil
}

// tag is a version as Talos and Kubernetes write it.
func tag(v semver.Version) string { return "v" + v.String() }

// TalosPath is the list of Talos versions a node on from goes through to
// reach to, given the versions the Image Factory builds: the latest patch
// of from's minor, then the latest patch of each minor in between, then
// to (the path the Talos upgrade guide supports). Each hop must be one
// the target release accepts (machinery's UpgradeableFrom) and must run
// the cluster's Kubernetes version. An empty path means from is to.
func TalosPath(from, to, kubernetes string, available []string) ([]string, error) {
	cur, err := parse("current Talos", from)
	if err != nil {
		return nil, err
	}
	target, err := parse("Talos", to)
	if err != nil {
		return nil, err
	}
	var known []semver.Version
	for _, a := range available {
		if v, err := semver.ParseTolerant(a); err == nil {
			known = append(known, v)
		}
	}
	switch c := target.Compare(cur); {
	case c == 0:
		return nil, nil
	case c < 0:
		return nil, fmt.Errorf("Talos %s is older than the %s the cluster runs; cto does not downgrade", tag(target), tag(cur))
	}
	if !slices.ContainsFunc(known, target.Equals) {
		return nil, fmt.Errorf("Talos %s is not a version the Image Factory builds; pick one it lists (latest: %s)", tag(target), latestOf(known))
	}
	var path []semver.Version
	for minor := cur.Minor; cur.Major == target.Major && minor < target.Minor; minor++ {
		if p, ok := latestPatch(known, cur.Major, minor); ok && p.GT(cur) {
			path = append(path, p)
		}
	}
	path = append(path, target)
	kv, err := compatibility.ParseKubernetesVersion(strings.TrimPrefix(kubernetes, "v"))
	if kubernetes != "" && err != nil {
		return nil, fmt.Errorf("kubernetes version %q: %v", kubernetes, err)
	}
	prev := cur
	out := make([]string, len(path))
	for i, hop := range path {
		hv, err := compatibility.ParseTalosVersion(&machineapi.VersionInfo{Tag: tag(hop)})
		if err != nil {
			return nil, err
		}
		pv, err := compatibility.ParseTalosVersion(&machineapi.VersionInfo{Tag: tag(prev)})
		if err != nil {
			return nil, err
		}
		if err := hv.UpgradeableFrom(pv); err != nil {
			return nil, fmt.Errorf("Talos %s cannot be reached from %s: %v", tag(hop), tag(prev), err)
		}
		if kubernetes != "" {
			if err := kv.SupportedWith(hv); err != nil {
				return nil, fmt.Errorf("Talos %s cannot run the cluster's Kubernetes %s (%v); upgrade Kubernetes first", tag(hop), kubernetes, err)
			}
		}
		out[i], prev = tag(hop), hop
	}
	return out, nil
}

// latestPatch is the highest released (not pre-release) version of a minor.
func latestPatch(known []semver.Version, major, minor uint64) (semver.Version, bool) {
	var best semver.Version
	found := false
	for _, v := range known {
		if v.Major == major && v.Minor == minor && len(v.Pre) == 0 && (!found || v.GT(best)) {
			best, found = v, true
		}
	}
	return best, found
}

func latestOf(known []semver.Version) string {
	if len(known) == 0 {
		return "none listed"
	}
	return tag(slices.MaxFunc(known, func(a, b semver.Version) int { return a.Compare(b) }))
}

// CheckKubernetes says whether the cluster may go from Kubernetes from to
// to on nodes running the given Talos versions: no downgrade, one minor at
// a time (Kubernetes' version skew policy lets the control plane lead the
// kubelets by at most one minor during an upgrade, and kubeadm and
// talosctl upgrade-k8s refuse to skip one), and within what every Talos
// version supports (machinery's SupportedWith).
func CheckKubernetes(from, to string, talosVersions []string) error {
	cur, err := parse("current Kubernetes", from)
	if err != nil {
		return err
	}
	target, err := parse("Kubernetes", to)
	if err != nil {
		return err
	}
	switch {
	case target.LT(cur):
		return fmt.Errorf("Kubernetes %s is older than the %s the cluster runs; Kubernetes does not support downgrades", tag(target), tag(cur))
	case target.Major != cur.Major || target.Minor > cur.Minor+1:
		return fmt.Errorf("Kubernetes %s is more than one minor version after %s; upgrade to the latest %d.%d first, one minor at a time", tag(target), tag(cur), cur.Major, cur.Minor+1)
	}
	kv, err := compatibility.ParseKubernetesVersion(target.String())
	if err != nil {
		return err
	}
	for _, t := range dedupe(talosVersions) {
		tv, err := compatibility.ParseTalosVersion(&machineapi.VersionInfo{Tag: "v" + strings.TrimPrefix(t, "v")})
		if err != nil {
			return fmt.Errorf("talos version %q: %v", t, err)
		}
		if err := kv.SupportedWith(tv); err != nil {
			return fmt.Errorf("Kubernetes %s does not run on Talos %s (%v); upgrade Talos first", tag(target), t, err)
		}
	}
	return nil
}

func dedupe(list []string) []string {
	out := slices.Clone(list)
	slices.Sort(out)
	return slices.Compact(out)
}
