package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/dynalock/dynalock/admin"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// releaseFlags are release's own flags.
type releaseFlags struct {
	force  bool
	reason string
	by     string
	token  tokenFlag
	lease  string
}

func setupRelease(fs *flag.FlagSet) func(context.Context, *app, []string) error {
	var f releaseFlags
	fs.BoolVar(&f.force, "force", false, "required: take the lock from its holder, which may still be working")
	fs.StringVar(&f.reason, "reason", "", "why (`TEXT`), recorded in the lock's item as ReleaseReason (required)")
	fs.StringVar(&f.by, "by", defaultBy(), "who (`WHO`), recorded in the lock's item as ReleasedBy")
	fs.Var(&f.token, "token", "release only if the lock's fencing token is still `N`, without asking")
	fs.StringVar(&f.lease, "lease", "", "with --token: release only if the lock's lease ID is still `L`")
	return func(ctx context.Context, a *app, args []string) error {
		if err := f.check(); err != nil {
			return err
		}
		return release(ctx, a, args[0], f)
	}
}

func (f releaseFlags) check() error {
	switch {
	case !f.force:
		return usageError("release takes the lock from its holder, which may still be working: pass --force if you mean it")
	case strings.TrimSpace(f.reason) == "":
		return usageError("--reason is required: it is recorded in the lock's item for audit")
	case strings.TrimSpace(f.by) == "":
		return usageError("--by must not be empty")
	case f.lease != "" && !f.token.set:
		return usageError("--lease needs --token")
	}
	return nil
}

// release shows the lock, makes sure it is the one the operator means
// (by --token and --lease, or by asking), then releases it with a write
// conditional on the lease and token seen.
func release(ctx context.Context, a *app, id string, f releaseFlags) error {
	db, err := a.client(ctx)
	if err != nil {
		return err
	}
	seen, err := getLock(ctx, a.def, db, a.table, id)
	if err != nil {
		return err
	}
	now := a.now()
	if err := writeRecord(a.stdout, seen, now); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout)
	if seen.LeaseID == "" {
		return fmt.Errorf("lock %q has no lease to release: its item was not written by DynaLock", id)
	}
	if f.token.set {
		if err := f.mismatch(seen, now); err != nil {
			return err
		}
	}
	if seen.Released {
		_, err := fmt.Fprintf(a.stdout, "Lock %q is not held: it was already released%s. Nothing to do.\n", id, releasedBy(seen))
		return err
	}
	if seen.Held(now) {
		fmt.Fprintf(a.stdout, "Lock %q is held: its holder may still be working.\n", id)
	} else {
		fmt.Fprintf(a.stdout, "Lock %q's lease has ended: the next acquire takes it over even without a release.\n", id)
	}
	if !f.token.set {
		ok, err := confirm(ctx, a.stdin, a.stdout, id, seen, now)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("not confirmed: lock %q was left as it is (answer yes, or pass --token to release without asking)", id)
		}
	}
	return forceRelease(ctx, a, db, seen, f.by, f.reason)
}

// mismatch explains why the lock seen is not the one --token (and --lease)
// name, if it is not, saying which of them did not match. A token newer than
// the lock's, or one that does not go with the lease given, was mistyped
// (a usage error: the holder may well be the one the operator means); an
// older token with a lease that does not match either is an earlier lease's:
// the lock changed hands.
func (f releaseFlags) mismatch(seen admin.Record, now time.Time) error {
	tokenOK := seen.Token == f.token.v
	leaseOK := f.lease == "" || seen.LeaseID == f.lease
	id := seen.LockID
	switch {
	case tokenOK && leaseOK:
		return nil
	case tokenOK:
		return usageError("lock %q: --lease %q does not match, but --token matches: that token's lease is %s "+
			"(a token belongs to one lease), so --lease is mistyped; not released. It is held by %s",
			id, f.lease, seen.LeaseID, describe(seen, now))
	case f.lease != "" && leaseOK:
		return usageError("lock %q: --token %d does not match, but --lease matches: that lease has token %d, "+
			"so --token is mistyped; not released. It is held by %s", id, f.token.v, seen.Token, describe(seen, now))
	case f.token.v > seen.Token:
		return usageError("lock %q: --token %d does not match: no lease of this lock has had it yet, its token is %d, "+
			"so --token is mistyped; not released. It is held by %s", id, f.token.v, seen.Token, describe(seen, now))
	}
	want := fmt.Sprintf("token %d", f.token.v)
	if f.lease != "" {
		want += ", lease " + f.lease
	}
	return changedHands(id, want+" (an earlier lease's)", seen, now)
}

// confirm asks the operator to type yes. It gives up when ctx ends (the
// operator pressed Ctrl-C), leaving the read to the exiting process.
func confirm(ctx context.Context, in io.Reader, out io.Writer, id string, seen admin.Record, now time.Time) (bool, error) {
	fmt.Fprintf(out, "Release lock %q held by %s?\nOnly yes will be accepted: ", id, describe(seen, now))
	type answer struct {
		line string
		err  error
	}
	read := make(chan answer, 1)
	go func() {
		line, err := bufio.NewReader(in).ReadString('\n')
		read <- answer{line, err}
	}()
	var a answer
	select {
	case a = <-read:
	case <-ctx.Done():
		return false, fmt.Errorf("lock %q was left as it is: %w", id, context.Cause(ctx))
	}
	fmt.Fprintln(out)
	if a.err != nil && !errors.Is(a.err, io.EOF) {
		return false, fmt.Errorf("read confirmation: %w", a.err)
	}
	return strings.TrimSpace(a.line) == "yes", nil
}

// forceRelease sends the conditional write and explains a refusal.
func forceRelease(ctx context.Context, a *app, db *dynamodb.Client, seen admin.Record, by, reason string) error {
	id := seen.LockID
	_, err := db.UpdateItem(ctx, a.def.ForceReleaseInput(a.table, id, seen.LeaseID, seen.Token, by, reason, a.now()))
	var ccf *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return released(a, seen, by, reason)
	case !errors.As(err, &ccf):
		return fmt.Errorf("release lock %q: %w", id, err)
	case len(ccf.Item) == 0:
		return withCode(exitNotFound, "lock %q was not released: its item is gone (deleted by TTL clean-up), so nobody holds it", id)
	}
	cur, err := a.def.Parse(ccf.Item)
	if err != nil {
		return fmt.Errorf("lock %q was not released: its item is now unreadable: %w", id, err)
	}
	if cur.LeaseID != seen.LeaseID || cur.Token != seen.Token {
		return changedHands(id, fmt.Sprintf("token %d, lease %s", seen.Token, seen.LeaseID), cur, a.now())
	}
	if cur.Forced && cur.ReleasedBy == by && cur.ReleaseReason == reason {
		return released(a, seen, by, reason) // a retry of a request that went through
	}
	_, err = fmt.Fprintf(a.stdout, "Lock %q was released meanwhile%s. Nothing to do.\n", id, releasedBy(cur))
	return err
}

func released(a *app, seen admin.Record, by, reason string) error {
	_, err := fmt.Fprintf(a.stdout, "Released lock %q (token %d, lease %s, owner %q).\nRecorded ReleasedBy %q, ReleaseReason %q.\n",
		seen.LockID, seen.Token, seen.LeaseID, seen.Owner, by, reason)
	return err
}

// changedHands is the refusal when the lock is no longer the lease the
// operator saw.
func changedHands(id, want string, cur admin.Record, now time.Time) error {
	return withCode(exitHeld, "lock %q changed hands: expected %s, found %s; not released. "+
		"Run `dynalock show %s` and decide again", id, want, describe(cur, now), id)
}

func releasedBy(r admin.Record) string {
	if !r.Forced {
		return " by its holder"
	}
	return fmt.Sprintf(" by %q (%s)", r.ReleasedBy, r.ReleaseReason)
}

// tokenFlag is a fencing token flag that knows whether it was set.
type tokenFlag struct {
	v   int64
	set bool
}

func (t *tokenFlag) String() string {
	if !t.set {
		return ""
	}
	return strconv.FormatInt(t.v, 10)
}

func (t *tokenFlag) Set(s string) error {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("not a fencing token: %w", err)
	}
	t.v, t.set = v, true
	return nil
}

// defaultBy is --by's default: user@host, the user from $USER, else
// $LOGNAME, else the operating system's account of this process (cron
// jobs and some containers set neither variable).
func defaultBy() string {
	name := os.Getenv("USER")
	if name == "" {
		name = os.Getenv("LOGNAME")
	}
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
	}
	if name == "" {
		name = "unknown"
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		return name
	}
	return name + "@" + host
}
