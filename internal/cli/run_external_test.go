package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cto-platform/cto/internal/cli"
)

// run drives cto in-process with args and returns the exit code, stdout
// and stderr.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cli.Run(context.Background(), cli.Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, args)
	return code, out.String(), errOut.String()
}

// runJSON runs cto with args, which ask for -o json, wants exit 0, and
// decodes its standard output into v. It returns that output.
func runJSON(t *testing.T, v any, args ...string) string {
	t.Helper()
	code, stdout, stderr := run(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), v); err != nil {
		t.Fatalf("stdout is not JSON for %T: %v\n%s", v, err, stdout)
	}
	return stdout
}
