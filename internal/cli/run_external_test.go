package cli_test

import (
	"bytes"
	"context"
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
