package deploy

import (
	"strings"
	"testing"

	"github.com/cto-platform/cto/internal/state/statetest"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/dns/cloudflare"
	"github.com/cto-platform/cto/internal/events"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/platform"
	"github.com/cto-platform/cto/internal/spec"
)

func runFor(t *testing.T, s spec.ClusterSpec, ask func(string) (string, error)) (*pipeline.Run, *events.Recorder) {
	t.Helper()
	c, j := statetest.New(t, t.TempDir(), "lab")
	rec := &events.Recorder{}
	r := &pipeline.Run{Cluster: c, Journal: j, Events: rec, Deps: &pipeline.Deps{Spec: s, Ask: ask, Interactive: ask != nil}}
	r.Clock = clock.Real{}
	return r, rec
}

func TestGitHubRepo(t *testing.T) {
	s := spec.Defaults()
	s.Platform.GitHubRepo = "acme/widgets"
	r, _ := runFor(t, s, func(string) (string, error) { t.Fatal("asked although the spec names a repository"); return "", nil })
	if got, _ := githubRepo(r); got != "acme/widgets" {
		t.Fatalf("from the spec: %q", got)
	}

	asked := 0
	r, _ = runFor(t, spec.Defaults(), func(string) (string, error) { asked++; return " acme/tools \n", nil })
	if got, err := githubRepo(r); err != nil || got != "acme/tools" {
		t.Fatalf("asked: %q %v", got, err)
	}
	if got, _ := githubRepo(r); got != "acme/tools" || asked != 1 {
		t.Fatalf("a rerun asked again (%d) or forgot the answer (%q)", asked, got)
	}

	// No terminal: empty, with a warning saying how to set it.
	r, rec := runFor(t, spec.Defaults(), nil)
	if got, err := githubRepo(r); err != nil || got != "" {
		t.Fatalf("without a terminal: %q %v", got, err)
	}
	ev := rec.Snapshot()
	if len(ev) != 1 || ev[0].Type != events.Warning || !strings.Contains(ev[0].Message, "--github-repo") {
		t.Fatalf("events = %+v, want one warning naming --github-repo", ev)
	}

	// A wrong answer is not kept.
	r, _ = runFor(t, spec.Defaults(), func(string) (string, error) { return "not a repo", nil })
	if got, _ := githubRepo(r); got != "" {
		t.Fatalf("kept %q", got)
	}
}

// With a domain the web UIs answer under <name>.<domain>; their
// certificates come from ACME through the DNS provider only when its
// token is there.
func TestPlatformSelectionDomain(t *testing.T) {
	s := spec.ClusterSpec{Name: "c1", Profile: "minimal"}
	if sel := PlatformSelection(s); sel.Domain != "" || sel.ACMEDNS != "" {
		t.Fatalf("without a domain: %+v", sel)
	}
	s.DNS = spec.DNS{Domain: "example.com", Provider: "cloudflare"}
	t.Setenv(cloudflare.EnvToken, "")
	if sel := PlatformSelection(s); sel.Domain != "c1.example.com" || sel.ACMEDNS != "" || sel.Issuer() != platform.SelfSignedIssuer {
		t.Fatalf("without a token: %+v", sel)
	}
	t.Setenv(cloudflare.EnvToken, "token")
	if sel := PlatformSelection(s); sel.ACMEDNS != "cloudflare" || sel.Issuer() != platform.ACMEIssuer {
		t.Fatalf("with a token: %+v", sel)
	}
}
