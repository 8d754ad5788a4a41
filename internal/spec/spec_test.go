package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

func load(t *testing.T, path string) (ClusterSpec, error) {
	t.Helper()
	s, err := Load(path)
	if err != nil {
		return s, err
	}
	s.Complete()
	return s, s.Validate()
}

func TestValidFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid-*.yaml")
	if len(files) == 0 {
		t.Fatal("no valid fixtures")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := load(t, f); err != nil {
				t.Fatalf("valid file rejected: %v", err)
			}
		})
	}
	s, _ := load(t, "testdata/valid-production.yaml")
	if s.ControlPlanes != 3 || s.Region != "DAL" || s.FallbackRegions[0] != "MIA2" {
		t.Fatalf("production defaults not applied: %+v", s)
	}
	m, _ := load(t, "testdata/valid-minimal.yaml")
	if m.ControlPlanes != 1 || m.Profile != "minimal" || m.Region != "DAL" || m.Network.CIDR != "10.8.0.0/24" {
		t.Fatalf("defaults not applied: %+v", m)
	}
}

func TestInvalidFilesNameTheField(t *testing.T) {
	cases := map[string]string{
		"invalid-unknown-key.yaml":         `node is not a known key`,
		"invalid-even-control-planes.yaml": `controlPlanes "2" must be 1, 3 or 5`,
		"invalid-bad-name.yaml":            `name "My_Cluster" must be a DNS label`,
		"invalid-wrong-type.yaml":          `nodes must be of type int`,
		"invalid-nested-unknown.yaml":      `cidrs is not a known key`,
		"invalid-production-one-cp.yaml":   `controlPlanes "1" must be 3 or 5 for the production profile`,
		"invalid-apiversion.yaml":          `apiVersion "v1" must be cto.dev/v1alpha1`,
		"invalid-negative-timeout.yaml":    `platform.timeout "-5s" must be a positive duration`,
	}
	for file, want := range cases {
		t.Run(file, func(t *testing.T) {
			_, err := load(t, filepath.Join("testdata", file))
			if err == nil {
				t.Fatal("invalid file accepted")
			}
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not say %q", err, want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is more than one line: %q", err)
			}
			// Errors found while reading name the file; values checked
			// after flags are merged in name only the field.
			if _, parseErr := Load(filepath.Join("testdata", file)); parseErr != nil && !strings.Contains(err.Error(), file) {
				t.Fatalf("error does not name the file: %q", err)
			}
		})
	}
}

func TestValidateCollectsEveryProblem(t *testing.T) {
	s := Defaults()
	s.Name = strings.Repeat("a", 41)
	s.Provider = "bogus"
	s.Nodes = 0
	s.ControlPlanes = 2
	s.Network.CIDR = "8.8.8.0/24"
	err := s.Validate()
	errs, ok := err.(Errors)
	if !ok || len(errs) < 5 {
		t.Fatalf("Validate = %v, want every problem", err)
	}
	for _, field := range []string{"name", "provider", "nodes", "controlPlanes", "network.cidr"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("%q not named in %q", field, err)
		}
	}
}

func TestControlPlanesMustNotExceedNodes(t *testing.T) {
	s := Defaults()
	s.Provider = "latitude"
	s.Nodes, s.ControlPlanes = 2, 3
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "must not exceed nodes (2)") {
		t.Fatalf("Validate = %v", err)
	}
}

func TestStarterIsValid(t *testing.T) {
	s, err := Parse([]byte(Starter))
	if err != nil {
		t.Fatalf("the cto init starter does not parse: %v", err)
	}
	s.Complete()
	if err := s.Validate(); err != nil {
		t.Fatalf("the cto init starter does not validate: %v", err)
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "cannot be read") {
		t.Fatalf("Load(missing) = %v", err)
	}
}

// clusterYAMLs is the fuzz corpus: every cluster.yaml of the repository
// (the fixtures here, any *.yaml that is a cto Cluster, the yaml blocks of
// the docs that are one) and the starter `cto init` writes.
func clusterYAMLs(t testing.TB) map[string][]byte {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{"starter": []byte(Starter)}
	isCluster := func(b []byte) bool { return bytes.Contains(b, []byte("kind: Cluster")) }
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		switch {
		case strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml"):
			if data, err := os.ReadFile(path); err == nil && isCluster(data) {
				out[rel] = data
			}
		case strings.HasSuffix(path, ".md"):
			data, err := os.ReadFile(path)
			if err != nil {
				return nil
			}
			for i, block := range strings.Split(string(data), "```yaml\n")[1:] {
				if body, _, ok := strings.Cut(block, "```"); ok && isCluster([]byte(body)) {
					out[fmt.Sprintf("%s#%d", rel, i+1)] = []byte(body)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The corpus is real: the fixtures of every kind are in it.
func TestFuzzCorpusIsTheRepositorysClusterYAMLs(t *testing.T) {
	corpus := clusterYAMLs(t)
	fixtures, _ := filepath.Glob("testdata/*.yaml")
	if len(fixtures) < 10 {
		t.Fatalf("only %d fixtures in testdata", len(fixtures))
	}
	for _, f := range fixtures {
		if _, ok := corpus[filepath.Join("internal", "spec", f)]; !ok {
			t.Errorf("fixture %s is not in the fuzz corpus", f)
		}
	}
	t.Logf("%d cluster.yaml files in the corpus", len(corpus))
}

// checkAccepted is the oracle for a spec Parse and Validate accepted:
// every rule Validate states holds, and it survives a round trip through
// YAML unchanged.
func checkAccepted(t *testing.T, s ClusterSpec) {
	t.Helper()
	if len(s.Name) > 40 || !dnsLabel.MatchString(s.Name) {
		t.Fatalf("name %q accepted", s.Name)
	}
	if !contains(Providers, s.Provider) || !contains(Profiles, s.Profile) {
		t.Fatalf("provider %q / profile %q accepted", s.Provider, s.Profile)
	}
	if s.Nodes < 1 || (s.ControlPlanes != 1 && s.ControlPlanes != 3 && s.ControlPlanes != 5) || s.ControlPlanes > s.Nodes {
		t.Fatalf("nodes %d, control planes %d accepted", s.Nodes, s.ControlPlanes)
	}
	if s.Profile == "production" && s.NeedsMachines() && s.ControlPlanes < 3 {
		t.Fatalf("production with %d control planes accepted", s.ControlPlanes)
	}
	if s.Region != strings.ToUpper(s.Region) || (s.Region != "" && !slugLike.MatchString(s.Region)) {
		t.Fatalf("region %q accepted", s.Region)
	}
	for _, r := range s.FallbackRegions {
		if r != strings.ToUpper(r) || !slugLike.MatchString(r) {
			t.Fatalf("fallback region %q accepted", r)
		}
	}
	if s.MaxMonthlyCost < 0 || math.IsNaN(s.MaxMonthlyCost) {
		t.Fatalf("maxMonthlyCost %v accepted", s.MaxMonthlyCost)
	}
	if s.Network.CIDR != "" {
		p, err := netip.ParsePrefix(s.Network.CIDR)
		if err != nil || !p.Addr().Is4() || !p.Addr().IsPrivate() || p.Bits() > 28 {
			t.Fatalf("network.cidr %q accepted", s.Network.CIDR)
		}
	}
	if s.Platform.Timeout != "" {
		if d, err := time.ParseDuration(s.Platform.Timeout); err != nil || d <= 0 {
			t.Fatalf("platform.timeout %q accepted", s.Platform.Timeout)
		}
	}
	if (s.DNS.Domain != "") && (s.DNS.Provider == "" || !domainish.MatchString(s.DNS.Domain)) {
		t.Fatalf("dns %+v accepted", s.DNS)
	}
	if s.Provider == "existing" && s.Kubeconfig == "" {
		t.Fatal("provider existing without a kubeconfig accepted")
	}
	out, err := yaml.Marshal(s)
	if err != nil {
		t.Fatalf("an accepted spec does not marshal: %v", err)
	}
	again, err := Parse(out)
	if err != nil {
		t.Fatalf("an accepted spec does not parse back: %v\n%s", err, out)
	}
	again.Complete()
	if !reflect.DeepEqual(normal(s), normal(again)) {
		t.Fatalf("round trip changed the spec:\n%+v\n%+v", s, again)
	}
}

// normal makes empty and nil lists equal for comparison.
func normal(s ClusterSpec) ClusterSpec {
	if len(s.FallbackRegions) == 0 {
		s.FallbackRegions = nil
	}
	if len(s.Servers) == 0 {
		s.Servers = nil
	}
	return s
}

// checkRefused is the oracle for a refusal: one line, naming a field, and
// the same refusal every time.
func checkRefused(t *testing.T, data []byte, err error) {
	t.Helper()
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("multi-line error: %q", err)
	}
	var se *Error
	var ses Errors
	switch {
	case errors.As(err, &se):
		if se.Field == "" || se.Reason == "" {
			t.Fatalf("error names no field or reason: %#v", se)
		}
	case errors.As(err, &ses):
		if len(ses) == 0 {
			t.Fatal("empty Errors")
		}
		for _, e := range ses {
			if e.Field == "" || e.Reason == "" {
				t.Fatalf("error names no field or reason: %#v", e)
			}
		}
	default:
		t.Fatalf("refusal of type %T, want *Error or Errors: %v", err, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, data := range clusterYAMLs(f) {
		f.Add(data)
	}
	f.Add([]byte("apiVersion: cto.dev/v1alpha1\nkind: Cluster\nnodes: -1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err == nil {
			s.Complete()
			err = s.Validate()
		}
		if err != nil {
			checkRefused(t, data, err)
			// Deterministic: the same input, the same refusal.
			s2, err2 := Parse(data)
			if err2 == nil {
				s2.Complete()
				err2 = s2.Validate()
			}
			if err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("refusal changed between two runs: %v / %v", err, err2)
			}
			return
		}
		checkAccepted(t, s)
	})
}

func TestGPUTaintNeedsGPUWorkers(t *testing.T) {
	base := Defaults()
	base.Provider, base.Nodes, base.ControlPlanes = "latitude", 3, 1
	for _, tc := range []struct {
		name       string
		gpu        bool
		workerPlan string
		nodes      int
		want       string
	}{
		{"without gpu", false, "g3-large-x86", 3, "gpuTaint \"true\" needs gpu: true"},
		{"without workers", true, "", 1, "needs workers"},
		{"GPU workers", true, "", 3, ""},
		{"GPU workers on their own plan", true, "g3-large-x86", 3, ""},
	} {
		s := base
		s.GPU, s.GPUTaint, s.WorkerPlan, s.Nodes = tc.gpu, true, tc.workerPlan, tc.nodes
		err := s.Validate()
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want %q", tc.name, err, tc.want)
		}
	}
}
