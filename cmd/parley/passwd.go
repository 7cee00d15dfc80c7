package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/parleysip/parley/auth/digest"
	"github.com/spf13/cobra"
)

func newPasswdCmd() *cobra.Command {
	var file, realm, algs, password string
	cmd := &cobra.Command{
		Use:   "passwd [flags] USER",
		Short: "Add or change a user in a digest users file (HA1 hashes, never passwords)",
		Long: `Passwd writes USER's digest credentials for REALM into the users file that
"parley serve" reads: one line per algorithm,

    user:realm:algorithm:HA1

where HA1 = H(user ":" realm ":" password) (RFC 7616 §3.4.2). The password
itself is never stored. Existing lines for the same user, realm and
algorithm are replaced; every other line, comments included, is kept.

The password is read from standard input (first line) unless --password
is given.

Exit codes: 0 written, 1 the file could not be read or written or is
malformed, 2 usage error.`,
		Example: `  echo 's3cret' | parley passwd --realm example.com alice
  parley passwd --file /etc/parley/users --realm example.com --algorithms SHA-256 bob`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			user := args[0]
			if user == "" || strings.ContainsAny(user, ":\r\n") {
				return &exitError{code: 2, err: fmt.Errorf("user %q: must be non-empty and hold no ':'", user)}
			}
			if realm == "" || strings.ContainsAny(realm, "\r\n") {
				return &exitError{code: 2, err: errors.New("--realm is required")}
			}
			var list []digest.Algorithm
			for _, a := range strings.Split(algs, ",") {
				alg := digest.Algorithm(strings.TrimSpace(a))
				if !alg.Known() {
					return &exitError{code: 2, err: fmt.Errorf("unknown algorithm %q (want MD5, SHA-256, SHA-512-256)", a)}
				}
				list = append(list, alg)
			}
			if !cmd.Flags().Changed("password") {
				line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 4096)).ReadString('\n')
				if err != nil && err != io.EOF {
					return err
				}
				password = strings.TrimRight(line, "\r\n")
			}
			if password == "" {
				return &exitError{code: 2, err: errors.New("empty password")}
			}
			old, err := os.ReadFile(file)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return &exitError{code: 1, err: err}
			}
			// Validate the existing file before rewriting it.
			if _, err := digest.ParseUsers(bytes.NewReader(old)); err != nil {
				return &exitError{code: 1, err: fmt.Errorf("%s: %w", file, err)}
			}
			var out bytes.Buffer
			replaced := map[digest.Algorithm]bool{}
			for _, line := range strings.SplitAfter(string(old), "\n") {
				if line == "" {
					continue
				}
				f := strings.Split(strings.TrimRight(line, "\r\n"), ":")
				if len(f) >= 4 && f[0] == user && strings.Join(f[1:len(f)-2], ":") == realm {
					alg := digest.Algorithm(f[len(f)-2])
					for _, want := range list {
						if strings.EqualFold(string(want), string(alg)) {
							replaced[want] = true
							fmt.Fprintf(&out, "%s:%s:%s:%s\n", user, realm, want, digest.HA1(user, realm, password, want))
							goto next
						}
					}
				}
				out.WriteString(line)
				if !strings.HasSuffix(line, "\n") {
					out.WriteByte('\n')
				}
			next:
			}
			for _, alg := range list {
				if !replaced[alg] {
					fmt.Fprintf(&out, "%s:%s:%s:%s\n", user, realm, alg, digest.HA1(user, realm, password, alg))
				}
			}
			tmp := file + ".tmp"
			if err := os.WriteFile(tmp, out.Bytes(), 0o600); err != nil {
				return &exitError{code: 1, err: err}
			}
			if err := os.Rename(tmp, file); err != nil {
				return &exitError{code: 1, err: err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s@%s: %d entries written to %s\n", user, realm, len(list), file)
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "file", "users.txt", "users file to update (created if missing, mode 0600)")
	cmd.Flags().StringVar(&realm, "realm", "", "digest realm, usually the SIP domain (required)")
	cmd.Flags().StringVar(&algs, "algorithms", "SHA-256,MD5", "comma-separated algorithms to write: MD5, SHA-256, SHA-512-256")
	cmd.Flags().StringVar(&password, "password", "", "the password (default: read from standard input)")
	return cmd
}
