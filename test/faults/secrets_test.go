package faults

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	latfake "github.com/cto-platform/cto/internal/provider/latitude/fake"
	"github.com/cto-platform/cto/test/sim"
)

// TestSecretsNeverLeak runs a whole deploy with DNS at -v -v and -o json,
// then status, a failing deploy and destroy, and asserts that no secret
// appears in any output, error, event or state.json: not the Latitude or
// Cloudflare token, no value of the Talos secrets, no private key, not the
// cluster's admin token, not the Argo CD password. Every file of the
// cluster's folder is 0600 and the folders 0700.
func TestSecretsNeverLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("drives the built binary against the simulated datacenter")
	}
	start := time.Now()
	w := newWorld(t, sim.Options{Speed: speed, Seed: 5})
	var outputs []string
	keep := func(r run) run { outputs = append(outputs, r.Stdout, r.Stderr); return r }

	deploy := deployArgs(cluster, 2, "--domain", w.Sim.Zone(), "--dns-provider", "cloudflare", "-v", "-v", "-o", "json")
	if r := keep(w.Run(deploy...)); r.Code != 0 {
		t.Fatalf("deploy:\n%s", r)
	}
	dir := w.ClusterDir(cluster)

	// What must never show.
	secrets := map[string]string{
		"the Latitude token":        w.simEnv("LATITUDESH_AUTH_TOKEN"),
		"the Cloudflare token":      w.simEnv("CLOUDFLARE_API_TOKEN"),
		"the cluster's admin token": w.Sim.Kube().Token,
	}
	n := 0
	walkStrings(decodeFile(t, filepath.Join(dir, "secrets.yaml")), "", func(path, v string) {
		if len(v) >= 16 { // keys, certificates, tokens; not names or versions
			secrets["Talos secret "+path] = v
			n++
		}
	})
	if n < 8 {
		t.Fatalf("only %d values in secrets.yaml; the bundle was not read", n)
	}
	walkStrings(decodeFile(t, filepath.Join(dir, "credentials.json")), "", func(path, v string) {
		if strings.HasSuffix(strings.ToLower(path), "password") && v != "" {
			secrets["the password at "+path] = v
		}
	})
	for name, v := range secrets {
		if len(v) < 8 {
			t.Fatalf("%s is %q: too short to look for", name, v)
		}
	}

	keep(w.Run("status", "--name", cluster))
	keep(w.Run("status", "--name", cluster, "-o", "json", "-v"))
	keep(w.Run("plans", "--provider", "latitude", "--region", "DAL", "-v"))
	// A failing run: its errors and the billing message.
	w.Sim.Latitude().SetFaults(func(f *latfake.Faults) { f.Revoked = true })
	if r := keep(w.Run(deploy...)); r.Code == 0 {
		t.Errorf("a deploy with the token refused succeeded:\n%s", r)
	}
	if r := keep(w.Run("destroy", "--name", cluster, "--yes", "-v")); r.Code == 0 {
		t.Errorf("a destroy with the token refused succeeded:\n%s", r)
	}
	w.Sim.Latitude().SetFaults(func(f *latfake.Faults) { f.Revoked = false })

	journal, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	places := map[string]string{"state.json": string(journal)}
	for i, o := range outputs {
		places["output "+string(rune('A'+i))] = o
	}
	for place, text := range places {
		for name, v := range secrets {
			if strings.Contains(text, v) {
				t.Errorf("%s holds %s", place, name)
			}
		}
		if strings.Contains(text, "PRIVATE KEY") {
			t.Errorf("%s holds a private key", place)
		}
	}

	// Files holding secrets are 0600, folders 0700.
	for _, d := range []string{w.StateDir(), filepath.Join(w.StateDir(), "clusters"), dir} {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, %v; want 0700", d, fi.Mode().Perm(), err)
		}
	}
	files := 0
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, _ := d.Info()
		if d.IsDir() {
			if fi.Mode().Perm() != 0o700 {
				t.Errorf("%s: mode %v, want 0700", path, fi.Mode().Perm())
			}
			return nil
		}
		files++
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", path, fi.Mode().Perm())
		}
		return nil
	})
	for _, want := range []string{"secrets.yaml", "talosconfig", "kubeconfig", "credentials.json", "state.json"} {
		if _, err := os.Stat(filepath.Join(dir, want)); err != nil {
			t.Errorf("%s: %v", want, err)
		}
	}
	t.Logf("%d secrets looked for in %d outputs and state.json; %d files checked for 0600", len(secrets), len(outputs), files)

	res := Result{Name: "secrets in output, events, errors and state", Area: "security", Expected: "no secret shown",
		Faults: "a deploy with DNS at -v -v -o json, status, a failing deploy and destroy", Runs: 2}
	res.Observed = "none of " + strconv.Itoa(len(secrets)) + " secrets in " + strconv.Itoa(len(outputs)) + " outputs or state.json; every file 0600"
	if r := w.Run("destroy", "--name", cluster, "--yes"); r.Code != 0 {
		t.Errorf("destroy:\n%s", r)
	}
	st := w.Sim.State().Latitude
	res.LeakedServers, res.LeakedVLANs = len(st.Servers), len(st.Networks)
	res.Pass = !t.Failed()
	res.Seconds = time.Since(start).Seconds()
	record(res)
}

// decodeFile reads a JSON or (by its .yaml name) YAML file of the
// cluster's folder as a generic document.
func decodeFile(t *testing.T, path string) any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if filepath.Ext(path) == ".yaml" {
		err = yaml.Unmarshal(data, &doc)
	} else {
		err = json.Unmarshal(data, &doc)
	}
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// walkStrings calls fn with every string leaf of a decoded document.
func walkStrings(v any, path string, fn func(path, v string)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			walkStrings(e, path+"."+k, fn)
		}
	case []any:
		for _, e := range x {
			walkStrings(e, path+"[]", fn)
		}
	case string:
		fn(path, x)
	}
}
