// Command cto-license is the vendor's tool for cto licenses: make a signing
// key, sign a license, inspect one. It is not part of cto. Without --key it
// signs with the development key, which only development builds of cto
// trust.
package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/cto-platform/cto/internal/license"
	"github.com/cto-platform/cto/internal/license/devkey"
	"github.com/cto-platform/cto/internal/state"
)

const usage = `usage:
  cto-license keygen --out FILE
  cto-license sign --tier TIER --customer NAME --expires YYYY-MM-DD [--key FILE] [--id ID]
                   [--max-nodes N] [--max-agents N] [--features a,b] [--issued YYYY-MM-DD]
  cto-license inspect [FILE|TOKEN]   (stdin when omitted)
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "keygen":
		err = keygen(args[1:], stdout)
	case "sign":
		err = sign(args[1:], stdout, stderr)
	case "inspect":
		err = inspect(args[1:], stdin, stdout)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		err = fmt.Errorf("unknown command %q\n%s", args[0], usage)
	}
	if err != nil {
		fmt.Fprintln(stderr, "ERROR: "+err.Error())
		return 2
	}
	return 0
}

func keygen(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	out := fs.String("out", "", "file to write the private key to (0600; never overwritten)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("keygen needs --out FILE for the private key")
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("%s exists; keygen never overwrites a key", *out)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if err := state.WriteFile(*out, []byte(devkey.EncodePrivateKey(priv)), 0o600); err != nil {
		return err
	}
	b := base64.StdEncoding.EncodeToString(pub)
	fmt.Fprintf(stdout, "public key: %s (key id %s)\n", b, license.KeyID(pub))
	fmt.Fprintf(stdout, "build cto with: -ldflags \"-X github.com/cto-platform/cto/internal/license.TrustedPublicKeys=%s\"\n", b)
	return nil
}

func sign(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sign", flag.ContinueOnError)
	tier := fs.String("tier", "", "starter, team, business or enterprise")
	customer := fs.String("customer", "", "customer name")
	expires := fs.String("expires", "", "last valid day, YYYY-MM-DD (or an RFC 3339 time)")
	issued := fs.String("issued", "", "issue day (default: now)")
	keyFile := fs.String("key", "", "private key file (default: the development key)")
	id := fs.String("id", "", "license ID (default: a random one)")
	maxNodes := fs.Int("max-nodes", 0, "node limit (default: the tier's)")
	maxAgents := fs.Int("max-agents", 0, "agent limit")
	features := fs.String("features", "", "comma-separated feature names")
	if err := fs.Parse(args); err != nil {
		return err
	}
	t, err := license.ParseTier(*tier)
	if err != nil || t == license.Free {
		return fmt.Errorf("--tier %q: use starter, team, business or enterprise", *tier)
	}
	if strings.TrimSpace(*customer) == "" {
		return errors.New("--customer is required")
	}
	exp, err := parseDay(*expires, true)
	if err != nil {
		return fmt.Errorf("--expires: %w", err)
	}
	iss := time.Now().UTC().Truncate(time.Second)
	if *issued != "" {
		if iss, err = parseDay(*issued, false); err != nil {
			return fmt.Errorf("--issued: %w", err)
		}
	}
	if *id == "" {
		b := make([]byte, 6)
		rand.Read(b)
		*id = "L-" + hex.EncodeToString(b)
	}
	key := devkey.Key()
	if *keyFile == "" {
		fmt.Fprintln(stderr, "note: signed with the development key, which only development builds of cto trust; pass --key for a release key")
	} else {
		if key, err = devkey.ReadPrivateKey(*keyFile); err != nil {
			return err
		}
	}
	l := license.License{
		ID: *id, Customer: *customer, Tier: t, MaxNodes: *maxNodes, MaxAgents: *maxAgents,
		Features: splitList(*features), IssuedAt: iss, ExpiresAt: exp,
	}
	if l.Features == nil {
		l.Features = []string{}
	}
	tok, err := license.Sign(l, key)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

// parseDay reads YYYY-MM-DD (the end of that day, UTC, when endOfDay) or
// an RFC 3339 time.
func parseDay(s string, endOfDay bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("is required (YYYY-MM-DD)")
	}
	if d, err := time.Parse("2006-01-02", s); err == nil {
		if endOfDay {
			d = d.Add(24*time.Hour - time.Second)
		}
		return d, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not YYYY-MM-DD", s)
	}
	return t.UTC(), nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func inspect(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	pub := fs.String("public-key", "", "verify against this base64 public key (default: the keys cto trusts by default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ref := fs.Arg(0)
	if ref == "" {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return err
		}
		ref = string(data)
	}
	v, err := license.Trusted()
	if err != nil {
		return err
	}
	if *pub != "" {
		k, err := license.ParsePublicKey(*pub)
		if err != nil {
			return err
		}
		v = license.NewVerifier(k)
	}
	l, err := license.Load(ref, v)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		*license.License
		KeyID     string `json:"key_id"`
		NodeLimit int    `json:"node_limit"`
		Signature string `json:"signature"`
	}{l, l.KeyID, l.NodeLimit(), "valid"})
}
