package spec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, file := range files {
		data, _ := os.ReadFile(file)
		f.Add(data)
	}
	f.Add([]byte(Starter))
	f.Add([]byte("apiVersion: cto.dev/v1alpha1\nkind: Cluster\nnodes: -1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error: %q", err)
			}
			return
		}
		s.Complete()
		if err := s.Validate(); err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line validation error: %q", err)
			}
			return
		}
		// A spec that validates must be usable.
		if s.Nodes < 1 || s.ControlPlanes > s.Nodes || s.Name == "" {
			t.Fatalf("invalid spec accepted: %+v", s)
		}
	})
}
