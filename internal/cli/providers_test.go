package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/hetzner/robot"
	robotfake "github.com/cto-platform/cto/internal/provider/hetzner/robot/fake"
	"github.com/cto-platform/cto/internal/spec"
)

// TestRobotOrdersPassTheDeployConfirmation: the provider the deploy wires
// asks the deploy's own confirmation before it orders a dedicated server,
// so without --yes and without a terminal nothing is ordered.
func TestRobotOrdersPassTheDeployConfirmation(t *testing.T) {
	f := robotfake.New()
	srv := httptest.NewServer(f)
	t.Cleanup(func() { srv.Close(); f.Close() })
	t.Setenv("HETZNER_ROBOT_USER", robotfake.User)
	t.Setenv("HETZNER_ROBOT_PASSWORD", robotfake.Password)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "robot-key")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	f.AddKey(signer.PublicKey())
	t.Setenv("HETZNER_ROBOT_SSH_KEY", keyFile)
	url := srv.URL
	s := spec.ClusterSpec{Name: "buy", Provider: robot.Name, APIURL: url, Order: true, Plan: "EX130-R", Region: "FSN1"}
	d, err := newDeps(context.Background(), &globals{}, s, false)
	if err != nil {
		t.Fatal(err)
	}
	order := provider.ServerSpec{Cluster: "buy", Hostname: "buy-n1", Role: provider.RoleWorker, Plan: "EX130-R", Region: "FSN1",
		Boot: provider.Boot{Method: provider.BootRescue, URL: "http://127.0.0.1:1/talos.raw.zst"}}
	_, err = provider.Create(context.Background(), d.Provider, order, nil)
	if err == nil || !strings.Contains(err.Error(), "pass --yes") {
		t.Errorf("an order without --yes or a terminal: %v; want it refused, saying to pass --yes", err)
	}
	if tx := f.Snapshot().Transactions; len(tx) != 0 {
		t.Fatalf("an order nobody confirmed was placed: %+v", tx)
	}
	d.Yes = true
	if _, err := provider.Create(context.Background(), d.Provider, order, nil); err != nil {
		t.Fatalf("an order with --yes: %v", err)
	}
	if tx := f.Snapshot().Transactions; len(tx) != 1 {
		t.Errorf("with --yes the fake saw %d orders, want 1", len(tx))
	}
}

// TestRegistryHasEveryRentedProvider: every --provider value whose
// servers are rented has its registry entry, complete, and nothing else
// does.
func TestRegistryHasEveryRentedProvider(t *testing.T) {
	var want []string
	for _, name := range spec.Providers {
		if spec.SourceOf(name) == spec.Servers {
			want = append(want, name)
		}
	}
	if got := machineProviders(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("registry = %v, want the rented providers of spec.Providers %v", got, want)
	}
	for _, p := range registry {
		if p.build == nil || p.endpointEnv == "" || len(p.credentials) == 0 {
			t.Errorf("registry entry %q is incomplete: %+v", p.name, p)
		}
	}
}
