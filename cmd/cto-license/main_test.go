package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/license"
)

func runTool(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestSignWithDevelopmentKey(t *testing.T) {
	code, out, errOut := runTool(t, "", "sign", "--tier", "team", "--customer", "Acme Corp", "--expires", "2027-12-31", "--features", "gpu, sso")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	v, _ := license.Trusted()
	l, err := v.Verify(out)
	if err != nil {
		t.Fatal(err)
	}
	if l.Tier != license.Team || l.Customer != "Acme Corp" || l.ExpiresAt.Format(time.RFC3339) != "2027-12-31T23:59:59Z" ||
		!strings.HasPrefix(l.ID, "L-") || strings.Join(l.Features, ",") != "gpu,sso" {
		t.Fatalf("signed %+v", l)
	}

	code, out, errOut = runTool(t, out, "inspect")
	if code != 0 || !strings.Contains(out, `"tier": "team"`) || !strings.Contains(out, `"node_limit": 3`) {
		t.Fatalf("inspect exit %d: %s %s", code, out, errOut)
	}
}

func TestKeygenSignInspect(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "vendor.key")
	code, out, errOut := runTool(t, "", "keygen", "--out", keyFile)
	if code != 0 {
		t.Fatalf("keygen: %s", errOut)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	pub := strings.Fields(out)[2]
	if code, _, _ := runTool(t, "", "keygen", "--out", keyFile); code != 2 {
		t.Fatal("keygen overwrote a key")
	}

	code, tok, errOut := runTool(t, "", "sign", "--key", keyFile, "--tier", "business", "--customer", "B", "--expires", "2030-01-01", "--id", "L-9")
	if code != 0 {
		t.Fatalf("sign: %s", errOut)
	}
	// cto's default build does not trust a vendor key; one built with it does.
	if code, _, errOut := runTool(t, "", "inspect", strings.TrimSpace(tok)); code != 2 || !strings.Contains(errOut, "does not trust") {
		t.Fatalf("inspect with default keys: %d %s", code, errOut)
	}
	if code, out, errOut := runTool(t, "", "inspect", "--public-key", pub, strings.TrimSpace(tok)); code != 0 || !strings.Contains(out, `"license_id": "L-9"`) {
		t.Fatalf("inspect with vendor key: %d %s %s", code, out, errOut)
	}
}

func TestSignRefusesBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"sign", "--tier", "gold", "--customer", "A", "--expires", "2027-01-01"},
		{"sign", "--tier", "free", "--customer", "A", "--expires", "2027-01-01"},
		{"sign", "--tier", "team", "--expires", "2027-01-01"},
		{"sign", "--tier", "team", "--customer", "A", "--expires", "next year"},
	} {
		if code, out, _ := runTool(t, "", args...); code != 2 || out != "" {
			t.Fatalf("%v: exit %d, stdout %q", args, code, out)
		}
	}
}
