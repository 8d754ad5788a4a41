package kubeconfig

import (
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

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
	out, err := PinServerHost(src, "203.0.113.5")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(out)
	if err != nil {
		t.Fatal(err)
	}
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
