package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A dry run renders every node's Talos config into the cluster's folder and
// prints the paths, with placeholders marked, and leaves no secrets.
func TestDeployDryRunRendersTalosConfigs(t *testing.T) {
	url := vultrFake(t)
	dir := t.TempDir()
	lic := teamLicense(t)
	code, stdout, stderr := run(t, "--state-dir", dir, "deploy", "--provider", "vultr", "--api-url", url, "--license", lic,
		"--plan", "vbm-4c-32gb", "--region", "EWR", "--nodes", "1", "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "clusters", "*", "dry-run", "*.yaml"))
	if len(files) != 1 {
		t.Fatalf("dry run wrote %v; output:\n%s\n%s", files, stdout, stderr)
	}
	if !strings.Contains(stdout+stderr, files[0]) || !strings.Contains(files[0], "placeholder") {
		t.Errorf("dry run did not print the marked path %s:\n%s\n%s", files[0], stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(filepath.Dir(files[0])), "secrets.yaml")); err == nil {
		t.Error("a dry run stored Talos secrets")
	}
}
