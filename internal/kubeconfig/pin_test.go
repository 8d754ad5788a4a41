package kubeconfig

import (
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// parsed returns a function that parses the kubeconfig a call returned,
// failing the test if the call or the parse failed.
func parsed(t *testing.T) func(out []byte, err error) *clientcmdapi.Config {
	return func(out []byte, err error) *clientcmdapi.Config {
		t.Helper()
		var cfg *clientcmdapi.Config
		if err == nil {
			cfg, err = clientcmd.Load(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
}

func TestPinServerHost(t *testing.T) {
	src := []byte(`apiVersion: v1
kind: Config
clusters:
- name: byname
  cluster: {server: "https://api.demo.example.test:6443", insecure-skip-tls-verify: true}
- name: byip
  cluster: {server: "https://192.0.2.7:6443"}
contexts:
- name: admin@demo
  context: {cluster: byname, user: admin}
current-context: admin@demo
users:
- name: admin
  user: {token: secret}
`)
	cfg := parsed(t)(PinServerHost(src, "203.0.113.5"))
	if got := cfg.Clusters["byname"].Server; got != "https://203.0.113.5:6443" {
		t.Errorf("byname server = %s, want the address with the port kept", got)
	}
	if got := cfg.Clusters["byip"].Server; got != "https://192.0.2.7:6443" {
		t.Errorf("byip server = %s, want it unchanged", got)
	}
	if cfg.AuthInfos["admin"].Token != "secret" || !cfg.Clusters["byname"].InsecureSkipTLSVerify {
		t.Errorf("credentials or TLS settings lost: %+v %+v", cfg.AuthInfos["admin"], cfg.Clusters["byname"])
	}
	if same, _ := PinServerHost([]byte("apiVersion: v1\nkind: Config\nclusters:\n- name: x\n  cluster: {server: \"https://10.0.0.1:6443\"}\n"), "1.2.3.4"); string(same) == "" {
		t.Error("a kubeconfig already on an address came back empty")
	}
}

// TestPinServerAndContexts: a kubeconfig naming a VIP only the nodes
// reach is pinned to a control plane's address, and gets a context per
// control plane that keeps the user and the CA.
func TestPinServerAndContexts(t *testing.T) {
	src := []byte(`apiVersion: v1
kind: Config
clusters:
- name: demo
  cluster: {server: "https://10.8.0.254:6443", certificate-authority-data: Y2E=}
contexts:
- name: admin@demo
  context: {cluster: demo, user: admin@demo}
current-context: admin@demo
users:
- name: admin@demo
  user: {token: secret}
`)
	out, err := PinServer(src, "203.0.113.5")
	if err != nil {
		t.Fatal(err)
	}
	out, err = AddServerContexts(out, []string{"demo-cp1", "demo-cp2"}, []string{"203.0.113.5", "203.0.113.6"})
	cfg := parsed(t)(out, err)
	if got := cfg.Clusters["demo"].Server; got != "https://203.0.113.5:6443" {
		t.Errorf("server = %s, want the VIP replaced by the control plane's address", got)
	}
	if cfg.CurrentContext != "admin@demo" {
		t.Errorf("current context moved to %s", cfg.CurrentContext)
	}
	ctx := cfg.Contexts["admin@demo@demo-cp2"]
	if ctx == nil {
		t.Fatalf("no context for demo-cp2: %v", cfg.Contexts)
	}
	cl := cfg.Clusters[ctx.Cluster]
	if cl == nil || cl.Server != "https://203.0.113.6:6443" || string(cl.CertificateAuthorityData) != "ca" || ctx.AuthInfo != "admin@demo" {
		t.Errorf("demo-cp2's context: %+v cluster %+v", ctx, cl)
	}
	if _, err := AddServerContexts(out, []string{"a"}, nil); err == nil {
		t.Error("names and addresses of different lengths were accepted")
	}
}
