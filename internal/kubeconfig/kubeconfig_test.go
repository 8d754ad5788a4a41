package kubeconfig

import (
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

const userConfig = `apiVersion: v1
kind: Config
clusters:
- name: work
  cluster:
    server: https://work.example:6443
users:
- name: me
  user:
    token: work-token
contexts:
- name: work
  context:
    cluster: work
    user: me
    namespace: team
current-context: work
`

const clusterConfig = `apiVersion: v1
kind: Config
clusters:
- name: admin@cto
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: Y2E=
users:
- name: admin@cto
  user:
    token: cto-token
contexts:
- name: admin@cto
  context:
    cluster: admin@cto
    user: admin@cto
current-context: admin@cto
`

func TestMergeKeepsOtherContexts(t *testing.T) {
	out, err := Merge([]byte(userConfig), []byte(clusterConfig), "cto-lab")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "work" {
		t.Errorf("current context = %q, want the user's (work)", cfg.CurrentContext)
	}
	if w := cfg.Contexts["work"]; w == nil || w.Namespace != "team" || cfg.AuthInfos["me"].Token != "work-token" || cfg.Clusters["work"].Server != "https://work.example:6443" {
		t.Fatalf("the user's context changed: %+v", cfg.Contexts["work"])
	}
	c := cfg.Contexts["cto-lab"]
	if c == nil || c.Cluster != "cto-lab" || c.AuthInfo != "cto-lab" {
		t.Fatalf("context cto-lab = %+v", c)
	}
	if cfg.Clusters["cto-lab"].Server != "https://10.0.0.1:6443" || cfg.AuthInfos["cto-lab"].Token != "cto-token" {
		t.Fatal("cto-lab does not point at the cluster")
	}
	if _, ok := cfg.Contexts["admin@cto"]; ok {
		t.Fatal("the source's own names leaked into the merged file")
	}

	// Merging again is the same file; removing restores the user's.
	again, err := Merge(out, []byte(clusterConfig), "cto-lab")
	if err != nil || string(again) != string(out) {
		t.Fatalf("a second merge changed the file (%v):\n%s\n---\n%s", err, out, again)
	}
	back, removed, err := Remove(out, "cto-lab")
	if err != nil || !removed {
		t.Fatalf("Remove = %v %v", removed, err)
	}
	cfg, _ = clientcmd.Load(back)
	if len(cfg.Contexts) != 1 || len(cfg.Clusters) != 1 || len(cfg.AuthInfos) != 1 || cfg.CurrentContext != "work" {
		t.Fatalf("after remove: %+v", cfg)
	}
}

func TestMergeIntoNothing(t *testing.T) {
	out, err := Merge(nil, []byte(clusterConfig), "cto-lab")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := clientcmd.Load(out)
	if cfg.CurrentContext != "cto-lab" {
		t.Fatalf("current context = %q, want cto-lab", cfg.CurrentContext)
	}
}

func TestMergeRefusesBadInput(t *testing.T) {
	for name, src := range map[string]string{
		"not yaml":       "{{{",
		"no context":     "apiVersion: v1\nkind: Config\n",
		"missing target": "apiVersion: v1\nkind: Config\ncontexts:\n- name: a\n  context: {cluster: x, user: y}\ncurrent-context: a\n",
	} {
		if _, err := Merge([]byte(userConfig), []byte(src), "cto-x"); err == nil {
			t.Errorf("%s: merged", name)
		}
	}
	if _, err := Merge([]byte("{{{"), []byte(clusterConfig), "cto-x"); err == nil {
		t.Error("merged into an unreadable kubeconfig (it would be clobbered)")
	}
}

func TestMergeFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nested", "config")
	t.Setenv("KUBECONFIG", path+string(os.PathListSeparator)+filepath.Join(dir, "other"))
	if DefaultPath() != path {
		t.Fatalf("DefaultPath = %s, want the first of $KUBECONFIG", DefaultPath())
	}
	if err := MergeFile(path, []byte(clusterConfig), "cto-lab"); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("kubeconfig mode = %v %v, want 0600", st, err)
	}
	if err := RemoveFromFile(path, "cto-lab"); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil || len(cfg.Contexts) != 0 {
		t.Fatalf("after remove: %v %v", cfg, err)
	}
	if err := RemoveFromFile(filepath.Join(dir, "absent"), "cto-lab"); err != nil {
		t.Fatal(err)
	}
}

func FuzzMerge(f *testing.F) {
	f.Add(userConfig, clusterConfig, "cto-lab")
	f.Add("", clusterConfig, "cto-a")
	f.Add(clusterConfig, clusterConfig, "admin@cto")
	f.Add(userConfig, userConfig, "work")
	f.Fuzz(func(t *testing.T, dst, src, name string) {
		out, err := Merge([]byte(dst), []byte(src), name)
		if err != nil {
			return
		}
		merged, err := clientcmd.Load(out)
		if err != nil {
			t.Fatalf("merge wrote an unreadable kubeconfig: %v", err)
		}
		c := merged.Contexts[name]
		if c == nil || c.Cluster != name || c.AuthInfo != name || merged.Clusters[name] == nil || merged.AuthInfos[name] == nil {
			t.Fatalf("context %q is not complete after merge", name)
		}
		before, err := clientcmd.Load([]byte(dst))
		if err != nil {
			t.Fatalf("merged into an unreadable kubeconfig: %v", err)
		}
		for n, old := range before.Contexts {
			if n == name {
				continue
			}
			got := merged.Contexts[n]
			if got == nil || got.Cluster != old.Cluster || got.AuthInfo != old.AuthInfo || got.Namespace != old.Namespace {
				t.Fatalf("context %q changed: %+v -> %+v", n, old, got)
			}
		}
		if before.CurrentContext != "" && merged.CurrentContext != before.CurrentContext {
			t.Fatalf("current context %q became %q", before.CurrentContext, merged.CurrentContext)
		}
		again, err := Merge(out, []byte(src), name)
		if err != nil || string(again) != string(out) {
			t.Fatalf("merging twice is not stable: %v", err)
		}
	})
}
