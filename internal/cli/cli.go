// Package cli is the cto command line: cobra commands, flag parsing,
// rendering of tables and JSON, prompts, and the progress view.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/cto-platform/cto/internal/license"
	"github.com/cto-platform/cto/internal/spec"
)

// Exit codes.
const (
	ExitOK       = 0
	ExitFailure  = 1
	ExitBadInput = 2
	// ExitInterrupted is a command stopped by SIGINT or SIGTERM (128+2, as
	// shells report an interrupted program).
	ExitInterrupted = 130
)

// Streams are the command's standard files. Results go to Out; progress,
// prompts and errors to ErrOut.
type Streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// Main runs cto with the process's arguments and exits.
func Main() {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, Streams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}, os.Args[1:])
	cancel()
	os.Exit(code)
}

// Run runs cto with args and returns the exit code. It is the seam tests
// drive; only Main exits the process.
func Run(ctx context.Context, streams Streams, args []string) int {
	root := newRootCmd(streams)
	root.SetArgs(args)
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := exitCode(err)
	if ctx.Err() != nil && code == ExitFailure {
		code = ExitInterrupted
	}
	fmt.Fprintln(streams.ErrOut, "ERROR: "+oneLine(err.Error()))
	return code
}

// badInput marks an error as the user's input (exit 2).
type badInput struct{ err error }

func (b *badInput) Error() string { return b.err.Error() }
func (b *badInput) Unwrap() error { return b.err }

// BadInput wraps err so the command exits 2.
func BadInput(err error) error { return &badInput{err} }

func badInputf(format string, args ...any) error { return &badInput{fmt.Errorf(format, args...)} }

// IsBadInput reports whether err is the user's input being wrong.
func IsBadInput(err error) bool {
	var b *badInput
	var se *spec.Error
	var ses spec.Errors
	return errors.As(err, &b) || errors.As(err, &se) || errors.As(err, &ses) || license.IsError(err)
}

func exitCode(err error) int {
	if IsBadInput(err) {
		return ExitBadInput
	}
	return ExitFailure
}

// oneLine folds an error onto one line: a bad input gets one line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
