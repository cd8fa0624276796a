package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/admin"
)

// forgetFlags are forget's own flags.
type forgetFlags struct {
	byKey
	reason string
	by     string
	token  tokenFlag
	force  bool
}

func setupIdemForget(fs *flag.FlagSet) func(context.Context, *app, []string) error {
	var f forgetFlags
	f.byKey.register(fs)
	fs.StringVar(&f.reason, "reason", "", "why (`TEXT`), recorded in the record as ForgetReason (required)")
	fs.StringVar(&f.by, "by", defaultBy(), "who (`WHO`), recorded in the record as ForgottenBy")
	fs.Var(&f.token, "token", "forget only if the record's fencing token is still `N`, without asking")
	fs.BoolVar(&f.force, "force", false, "also forget a record in progress: take the claim from the delivery running it,\nwhose completion then writes nothing")
	return func(ctx context.Context, a *app, args []string) error {
		switch {
		case strings.TrimSpace(f.reason) == "":
			return usageError("--reason is required: it is recorded in the record for audit")
		case strings.TrimSpace(f.by) == "":
			return usageError("--by must not be empty")
		}
		id, err := f.claimID(groupIdempotency+" forget", args)
		if err != nil {
			return err
		}
		return forgetRecord(ctx, a, id, f)
	}
}

// forgetRecord shows the record, makes sure it is the one the operator
// means (by --token, or by asking), then forgets it with a write
// conditional on the record being as shown.
func forgetRecord(ctx context.Context, a *app, id string, f forgetFlags) error {
	db, err := a.client(ctx)
	if err != nil {
		return err
	}
	seen, err := getClaim(ctx, a.def, db, a.table, id)
	if err != nil {
		return err
	}
	now := a.now()
	if err := writeClaim(a.stdout, seen, now); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout)
	if f.token.set && f.token.v != seen.Token {
		return withCode(exitHeld, "idempotency record %q: --token %d does not match its fencing token %d: it is another run's "+
			"(or the token is mistyped); not forgotten. Run `dynalock idempotency show %s` and decide again", id, f.token.v, seen.Token, id)
	}
	switch st := seen.ClaimState(now); st {
	case admin.ClaimCompleted:
	case admin.ClaimInProgress:
		if !f.force {
			return withCode(exitHeld, "idempotency record %q is in progress: a delivery may be running the handler now "+
				"(its lease ends in %s). Wait for it to end, or pass --force to take the claim from it: its completion then writes nothing, "+
				"and the next delivery runs the event", id, human(seen.ExpiresAt.Sub(now)))
		}
		fmt.Fprintf(a.stdout, "Record %q is in progress: forgetting it takes the claim from the delivery running it.\n", id)
	default:
		_, err := fmt.Fprintf(a.stdout, "Record %q is %s: %s already. Nothing to do.\n", id, st, nextDelivery(st))
		return err
	}
	if !f.token.set {
		ok, err := ask(ctx, a.stdin, a.stdout, fmt.Sprintf("Forget %s, so that its next delivery runs the handler again?", subject(seen, now)))
		if err != nil {
			return fmt.Errorf("idempotency record %q was left as it is: %w", id, err)
		}
		if !ok {
			return fmt.Errorf("not confirmed: idempotency record %q was left as it is (answer yes, or pass --token to forget without asking)", id)
		}
	}
	in, err := a.def.ForgetInput(a.table, seen, f.by, f.reason, a.now(), f.force)
	if err != nil {
		return err
	}
	return sendForget(ctx, a, db, in, seen, f)
}

// sendForget sends the conditional write and explains a refusal.
func sendForget(ctx context.Context, a *app, db *dynamodb.Client, in *dynamodb.UpdateItemInput, seen admin.Record, f forgetFlags) error {
	id := seen.LockID
	_, err := db.UpdateItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		_, err := fmt.Fprintf(a.stdout, "Forgot %s.\nRecorded ForgottenBy %q, ForgetReason %q. The next delivery of the event runs the handler again.\n",
			subject(seen, a.now()), f.by, f.reason)
		return err
	case !errors.As(err, &ccf):
		return fmt.Errorf("forget idempotency record %q: %w", id, err)
	case len(ccf.Item) == 0:
		return withCode(exitNotFound, "idempotency record %q was not forgotten: its item is gone (deleted by TTL clean-up), so the next delivery runs the event", id)
	}
	cur, err := a.def.Parse(ccf.Item)
	if err != nil {
		return fmt.Errorf("idempotency record %q was not forgotten: its item is now unreadable: %w", id, err)
	}
	if cur.Forgotten.Lease == seen.LeaseID && cur.Forgotten.By == f.by && cur.Forgotten.Reason == f.reason && cur.LeaseID == seen.LeaseID {
		_, err := fmt.Fprintf(a.stdout, "Forgot %s (a retried request).\n", subject(seen, a.now())) // the first attempt went through
		return err
	}
	now := a.now()
	return withCode(exitHeld, "idempotency record %q changed since it was shown: it is now %s (token %d, lease %s); not forgotten. "+
		"Run `dynalock idempotency show %s` and decide again", id, cur.ClaimState(now), cur.Token, cur.LeaseID, id)
}

// subject names a record in one line, for prompts and messages.
func subject(r admin.Record, now time.Time) string {
	s := fmt.Sprintf("idempotency record %q", r.LockID)
	if k := keyText(r.Keying); k != "" {
		s += " (" + k + ")"
	}
	switch st := r.ClaimState(now); st {
	case admin.ClaimCompleted:
		s += fmt.Sprintf(", completed at %s with %s of result (token %d)", stamp(r.CompletedAt, time.RFC3339), resultSize(r), r.Token)
	default:
		s += fmt.Sprintf(", %s (token %d, lease %s)", st, r.Token, r.LeaseID)
	}
	return s
}

// ask asks the operator to type yes. It gives up when ctx ends (the
// operator pressed Ctrl-C), leaving the read to the exiting process.
func ask(ctx context.Context, in io.Reader, out io.Writer, question string) (bool, error) {
	fmt.Fprintf(out, "%s\nOnly yes will be accepted: ", question)
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
		return false, context.Cause(ctx)
	}
	fmt.Fprintln(out)
	if a.err != nil && !errors.Is(a.err, io.EOF) {
		return false, fmt.Errorf("read confirmation: %w", a.err)
	}
	return strings.TrimSpace(a.line) == "yes", nil
}
