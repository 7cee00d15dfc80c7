// Command parley is Parley's one binary: `parley serve` runs the
// registrar and proxy, and the other subcommands are a SIP client for
// testing and scripting from a terminal.
//
// Exit codes: 0 success, 1 the operation failed (a parse error, a failed
// request), 2 a usage or I/O error.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/spf13/cobra"
)

// exitError carries the exit code a command wants.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "parley",
		Short: "Parley: SIP done completely — a server and a client in one binary",
		Long: `Parley is a SIP stack (RFC 3261 and its extensions) in Go.

This binary parses, sends and serves SIP. Run "parley COMMAND --help" for
the details of each command.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newParseCmd(), newOptionsCmd(), newMessageCmd(), newSendCmd(), newPasswdCmd(), newRegisterCmd(), newServeCmd(), newCallCmd(), newAnswerCmd())
	return root
}

// run executes the command line and returns the process exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// The call ladder is printed from the transport's goroutines as well
	// as the command's: every line is one Write, and Writes take turns.
	stdout, stderr = &lockedWriter{w: stdout}, &lockedWriter{w: stderr}
	root := newRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "parley:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 2
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// lockedWriter serialises the Writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
