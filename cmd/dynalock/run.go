package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// command is one subcommand of dynalock.
type command struct {
	name    string
	args    string // synopsis of its arguments and own flags
	summary string
	nargs   int // positional arguments it takes
	// optionalArgs makes nargs a maximum: fewer are accepted (the command
	// finds its lock another way, such as from flags).
	optionalArgs bool
	// setup registers the command's own flags on fs and returns the
	// function that runs it with its positional arguments.
	setup func(fs *flag.FlagSet) func(ctx context.Context, a *app, args []string) error
}

func commands() []command {
	return append([]command{
		{name: "list", args: "[--all] [--prefix P] [--json]", summary: "list held locks (--all: also expired and released ones)", setup: setupList},
		{name: "show", args: "ID [--json]", summary: "show everything stored for one lock", nargs: 1, setup: setupShow},
		{name: "release", args: "ID --force --reason TEXT [--token N [--lease L]] [--by WHO]",
			summary: "force-release a lock, only if it is still held as seen", nargs: 1, setup: setupRelease},
		{name: "acquire", args: "ID [--ttl D] [--owner NAME]",
			summary: "take a lock and leave it held for its TTL (to hold a job off, or to try the others)", nargs: 1, setup: setupAcquire},
		{name: "create-table", summary: "create the lock table with TTL on (for local development)", setup: setupCreateTable},
	}, idempotencyCommands()...)
}

const helpFooter = `Common flags, accepted by every command before or after its arguments:
  --table NAME     lock table (default $DYNALOCK_TABLE)
  --region REGION  AWS region (default from the AWS configuration, such as $AWS_REGION)
  --endpoint URL   DynamoDB endpoint, such as http://127.0.0.1:8000 for DynamoDB Local
                   (default $AWS_ENDPOINT_URL_DYNAMODB, else AWS's own)

For locks kept in a table of your own (single-table design), the lock
clients' table shape (lock.Config's fields of the same names):
  --partition-key ATTR         partition key attribute (default LockId)
  --sort-key ATTR              sort key attribute, if the table has one,
  --sort-key-value VALUE       and the sort key value of lock items
  --partition-key-prefix P     prefix of lock items' partition key values
  --ttl-attribute ATTR         TTL attribute (default TTL)

Credentials come from the standard AWS chain: environment, shared config and
SSO profiles ($AWS_PROFILE), container and instance roles. With a custom
endpoint the region defaults to us-east-1 and response checksums are not
validated (DynamoDB Local omits them on errors).

release never takes a lock from a newer holder: it writes only if the lock
still has the lease and fencing token that were shown (and confirmed by
typing yes) or passed with --token/--lease, and it records --by and --reason
in the lock's item (ReleasedBy, ReleaseReason).

Exit codes:
  0  done, or nothing to do (the lock was already released)
  1  other error (network, unreadable item, release not confirmed)
  2  usage error, such as an invalid lock ID, or a --token or --lease that
     does not go with the lock's current lease (mistyped)
  3  lock or idempotency record not found
  4  lock held by someone else (acquire), or it changed hands since it was seen (release);
     idempotency record in progress, or changed since it was seen (idempotency forget)
  5  access denied, or credentials rejected
  6  table not found
`

func writeHelp(w io.Writer) {
	fmt.Fprintln(w, "dynalock: see, inspect and safely force-release DynaLock locks in DynamoDB, and its idempotency records.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage:")
	for _, c := range commands() {
		fmt.Fprintln(w, "  "+strings.TrimSpace("dynalock "+c.name+" "+c.args))
		fmt.Fprintf(w, "      %s\n", c.summary)
	}
	fmt.Fprintln(w, "  dynalock version")
	fmt.Fprintln(w, "      print dynalock's version, and the Go version and commit it was built with")
	fmt.Fprintln(w, "  dynalock help [COMMAND]")
	fmt.Fprintln(w)
	fmt.Fprint(w, helpFooter)
}

// run runs dynalock with args (without the program name) and returns its
// exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		writeHelp(stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	if name == groupIdempotency && len(rest) > 0 { // a two-word command
		name, rest = name+" "+rest[0], rest[1:]
	}
	switch name {
	case "version", "-version", "--version":
		writeVersion(stdout)
		return exitOK
	case "help", "-h", "-help", "--help":
		if len(rest) == 0 {
			writeHelp(stdout)
			return exitOK
		}
		if rest[0] == groupIdempotency && len(rest) > 1 {
			rest = append([]string{rest[0] + " " + rest[1]}, rest[2:]...)
		}
		for _, c := range commands() {
			if c.name == rest[0] {
				fs := newFlagSet(c, &app{}, stdout)
				c.setup(fs)
				fs.Usage()
				return exitOK
			}
		}
		name = rest[0]
	default:
		for _, c := range commands() {
			if c.name == name {
				return runCommand(ctx, c, rest, stdin, stdout, stderr)
			}
		}
	}
	if name == groupIdempotency {
		fmt.Fprintf(stderr, "dynalock: %s needs a command: list, show or forget; run `dynalock help`\n", name)
		return exitUsage
	}
	fmt.Fprintf(stderr, "dynalock: unknown command %q; run `dynalock help`\n", name)
	return exitUsage
}

func runCommand(ctx context.Context, c command, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, now: time.Now}
	fs := newFlagSet(c, a, stderr)
	exec := c.setup(fs)
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage // the flag package has printed the error and usage
	}
	switch {
	case len(pos) < c.nargs && !c.optionalArgs:
		err = usageError("missing lock ID; usage: dynalock %s %s", c.name, c.args)
	case len(pos) > c.nargs:
		err = usageError("unexpected argument(s) %s; usage: dynalock %s %s",
			strings.Join(quoteAll(pos[c.nargs:]), " "), c.name, c.args)
	default:
		err = a.resolve()
	}
	if err == nil {
		err = exec(ctx, a, pos)
	}
	if err == nil {
		return exitOK
	}
	code, msg := classify(err, a.table, a.endpoint)
	fmt.Fprintf(stderr, "dynalock %s: %s\n", c.name, msg)
	return code
}

// newFlagSet returns c's flag set, with the common flags registered on a,
// printing errors and usage to w. The command's own flags are added by
// c.setup.
func newFlagSet(c command, a *app, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("dynalock "+c.name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s\n  %s\n\nFlags:\n", strings.TrimSpace("dynalock "+c.name+" "+c.args), c.summary)
		fs.PrintDefaults()
		fmt.Fprintln(fs.Output(), "\nRun `dynalock help` for the exit codes.")
	}
	a.register(fs)
	return fs
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
