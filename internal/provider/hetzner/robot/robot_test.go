package robot_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/hetzner/robot"
	"github.com/cto-platform/cto/internal/provider/hetzner/robot/fake"
	"github.com/cto-platform/cto/internal/provider/providertest"
)

type env struct {
	f       *fake.Fake
	url     string
	key     ssh.Signer
	numbers []int
}

func newEnv(t *testing.T, servers int) *env {
	t.Helper()
	f := fake.New()
	srv := httptest.NewServer(f)
	t.Cleanup(func() { srv.Close(); f.Close() })
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	f.AddKey(key.PublicKey())
	e := &env{f: f, url: srv.URL, key: key}
	for range servers {
		e.numbers = append(e.numbers, f.AddServer("AX42", "FSN1-DC14"))
	}
	return e
}

func (e *env) config() robot.Config {
	var ids []string
	for _, n := range e.numbers {
		ids = append(ids, strconv.Itoa(n))
	}
	return robot.Config{
		User: fake.User, Password: fake.Password, Endpoint: e.url, Clock: e.f.Clock(),
		Servers: ids, SSHKey: e.key, DialRescue: e.f.RescueAddr,
	}
}

func testContext(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func TestConformance(t *testing.T) {
	providertest.Run(t, func(t *testing.T) providertest.Fixture {
		e := newEnv(t, 3)
		cfg := e.config()
		// Ordering is allowed (and approved) so the suite's unknown-plan
		// and out-of-stock cases reach the product list.
		cfg.Order = true
		cfg.ConfirmOrder = func(string) error { return nil }
		return providertest.Fixture{
			Provider: robot.New(cfg),
			Plan:     "AX42",
			Region:   "FSN1",
			Settle:   e.f.Settle,
			BadCredentials: func() provider.Provider {
				bad := e.config()
				bad.Password = "wrong"
				return robot.New(bad)
			},
			// Out of stock for a Robot account: the servers named for
			// adoption were cancelled meanwhile, and the product is sold
			// out at the location.
			OutOfStock: func() {
				e.f.SetOutOfStock("AX42", "FSN1")
				for _, n := range e.numbers {
					e.f.CancelServer(n)
				}
			},
			FailNext: e.f.FailNextInstall,
		}
	})
}

func TestConfigFromEnvRejectsABadRescuePort(t *testing.T) {
	t.Setenv("HETZNER_ROBOT_USER", "u")
	t.Setenv("HETZNER_ROBOT_PASSWORD", "p")
	t.Setenv("HETZNER_ROBOT_SSH_KEY", t.TempDir()+"/none")
	t.Setenv("HETZNER_ROBOT_SSH_PORT", "ssh")
	if _, err := robot.ConfigFromEnv("", nil, false); err == nil || !strings.Contains(err.Error(), "HETZNER_ROBOT_SSH_PORT") {
		t.Errorf("ConfigFromEnv with port %q: %v, want an error naming the variable", "ssh", err)
	}
	t.Setenv("HETZNER_ROBOT_SSH_PORT", "2222")
	if _, err := robot.ConfigFromEnv("", nil, false); err != nil {
		t.Errorf("ConfigFromEnv with port 2222: %v", err)
	}
}
