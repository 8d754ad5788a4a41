package cli

import (
	"strings"
	"testing"
)

// A plan that refuses iPXE at order time is learned once: the deploy
// orders it with a stock system and reinstalls it, `cto plans` and the
// next deploy's preview say so, and the next deploy orders it that way at
// once.
func TestBootPathIsLearnedAndKept(t *testing.T) {
	f, factory := latitudeEnv(t)
	dir := t.TempDir()
	deploy := func(name, until string) (int, string, string) {
		return run(t, "deploy", "--image-factory-url", factory, "--provider", "latitude", "--name", name, "--nodes", "1",
			"--region", "DAL", "--plan", "c3-small-x86", "--until", until, "--yes", "--state-dir", dir)
	}
	code, stdout, stderr := deploy("first", "servers")
	if code != 0 {
		t.Fatalf("first deploy exit %d:\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout+stderr, "tries iPXE when ordered") {
		t.Errorf("the first preview does not say how the plan boots:\n%s%s", stdout, stderr)
	}
	st := f.State()
	if st.Requests["POST /servers"] != 2 || st.Requests["POST /servers/{id}/reinstall"] != 1 {
		t.Fatalf("first deploy: %d orders (want the refused one and the stock one), %d reinstalls (want 1)",
			st.Requests["POST /servers"], st.Requests["POST /servers/{id}/reinstall"])
	}
	code, stdout, stderr = run(t, "plans", "--provider", "latitude", "--region", "DAL", "--state-dir", dir)
	if code != 0 || !planLine(stdout, "c3-small-x86", "yes (reinstall)") || !planLine(stdout, "c2-small-x86", "yes") {
		t.Errorf("plans exit %d does not show the learned path:\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = deploy("second", "servers")
	if code != 0 {
		t.Fatalf("second deploy exit %d:\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout+stderr, "c3-small-x86 refuses iPXE when ordered") {
		t.Errorf("the second preview does not say the plan is reinstalled:\n%s%s", stdout, stderr)
	}
	if got := f.State().Requests["POST /servers"]; got != 3 {
		t.Errorf("second deploy sent %d orders in all, want one more (straight to the stock system)", got)
	}
}

// planLine says whether the plans table's row for slug holds want.
func planLine(table, slug, want string) bool {
	for _, line := range strings.Split(table, "\n") {
		if strings.HasPrefix(line, slug+" ") {
			return strings.Contains(line, want)
		}
	}
	return false
}
