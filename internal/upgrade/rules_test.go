package upgrade

import (
	"slices"
	"strings"
	"testing"
)

// factoryVersions is a factory's list with several patches per minor and a
// pre-release, as GET /versions answers.
var factoryVersions = []string{"v1.11.0", "v1.11.3", "v1.11.5", "v1.12.0", "v1.12.4", "v1.12.6", "v1.13.0", "v1.13.8", "v1.13.9", "v1.14.0-alpha.1"}

func TestTalosPathGoesThroughTheLatestPatchOfEachMinor(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		want     []string
	}{
		{"v1.13.8", "v1.13.9", []string{"v1.13.9"}},
		{"v1.12.4", "v1.13.9", []string{"v1.12.6", "v1.13.9"}},
		{"v1.12.6", "v1.13.0", []string{"v1.13.0"}},
		{"v1.11.3", "v1.13.9", []string{"v1.11.5", "v1.12.6", "v1.13.9"}},
		{"1.13.9", "v1.13.9", nil},
		{"v1.10.7", "v1.13.9", []string{"v1.11.5", "v1.12.6", "v1.13.9"}},
	} {
		got, err := TalosPath(tc.from, tc.to, "1.33.4", append(slices.Clone(factoryVersions), "v1.10.7"))
		if err != nil {
			t.Errorf("%s -> %s: %v", tc.from, tc.to, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s -> %s: path %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
}

func TestTalosPathRefusals(t *testing.T) {
	for _, tc := range []struct {
		from, to, kube, want string
	}{
		{"v1.13.9", "v1.13.8", "", "does not downgrade"},
		{"v1.13.0", "v1.13.7", "", "not a version the Image Factory builds"},
		{"v1.13.8", "1.13", "", "not a version"},
		{"garbage", "v1.13.9", "", "not a version like"},
		// Talos 1.13 runs Kubernetes 1.31 to 1.36 (talos113 compatibility).
		{"v1.12.6", "v1.13.9", "1.30.4", "cannot run the cluster's Kubernetes"},
	} {
		_, err := TalosPath(tc.from, tc.to, tc.kube, factoryVersions)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s -> %s: err %v, want it to say %q", tc.from, tc.to, err, tc.want)
		}
	}
}

// A factory that builds no release of the minors in between leaves a
// jump the target refuses: 1.13 accepts hosts from 1.11.0 on
// (talos113.MinimumHostUpgradeVersion).
func TestTalosPathRefusesAJumpTheTargetDoesNotAccept(t *testing.T) {
	_, err := TalosPath("v1.10.7", "v1.13.9", "", []string{"v1.10.7", "v1.13.9"})
	if err == nil || !strings.Contains(err.Error(), "too old to upgrade") {
		t.Fatalf("err %v, want the target to refuse a 1.10 host", err)
	}
}

func TestCheckKubernetes(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		talos    []string
		want     string // "" is allowed
	}{
		{"1.35.2", "1.36.3", []string{"v1.13.9"}, ""},
		{"v1.36.1", "v1.36.3", []string{"v1.13.9", "v1.13.9"}, ""},
		{"1.34.1", "1.36.3", []string{"v1.13.9"}, "one minor at a time"},
		{"1.36.3", "1.35.2", []string{"v1.13.9"}, "does not support downgrades"},
		// Talos 1.12 stops at Kubernetes 1.35 (talos112 compatibility).
		{"1.35.2", "1.36.3", []string{"v1.13.9", "v1.12.6"}, "does not run on Talos v1.12.6"},
		{"1.35.2", "latest", []string{"v1.13.9"}, "not a version like"},
	} {
		err := CheckKubernetes(tc.from, tc.to, tc.talos)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s -> %s: %v", tc.from, tc.to, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s -> %s: err %v, want it to say %q", tc.from, tc.to, err, tc.want)
		}
	}
}
