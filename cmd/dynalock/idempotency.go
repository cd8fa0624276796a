package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/admin"
)

// groupIdempotency is the first word of the commands on idempotency
// records: `dynalock idempotency list|show|forget`.
const groupIdempotency = "idempotency"

// The synopsis of the flags that find one record by its key instead of
// its claim ID.
const byKeyArgs = "CLAIM-ID | --namespace N [--function F] --key K [--key K2…]"

func idempotencyCommands() []command {
	return []command{
		{name: groupIdempotency + " list", args: "[--all] [--namespace N | --prefix P] [--json]",
			summary: "list idempotency records in progress or completed (--all: also expired, forgotten and incomplete ones)", setup: setupIdemList},
		{name: groupIdempotency + " show", args: byKeyArgs + " [--json | --result]",
			summary: "show one idempotency record: state, completion, expiry, result size, how it was keyed", nargs: 1, optionalArgs: true, setup: setupIdemShow},
		{name: groupIdempotency + " forget", args: byKeyArgs + " --reason TEXT [--token N] [--by WHO] [--force]",
			summary: "forget a completed event, so that its next delivery runs the handler again", nargs: 1, optionalArgs: true, setup: setupIdemForget},
	}
}

// byKey are the flags that name a record by how the middleware keyed it.
type byKey struct {
	namespace, function string
	keys                keysFlag
}

func (b *byKey) register(fs *flag.FlagSet) {
	fs.StringVar(&b.namespace, "namespace", "", "find the record by key: the wrapper's namespace `N` (WithNamespace)")
	fs.StringVar(&b.function, "function", "", "with --key: the function's deployed name `F` (its AWS_LAMBDA_FUNCTION_NAME), which the key is hashed with")
	fs.Var(&b.keys, "key", "with --namespace: the event's idempotency key `K`, as the key function returns it; repeat for several, in order")
}

// claimID returns the record's lock ID: args[0], or the one --namespace,
// --function and --key derive.
func (b *byKey) claimID(cmd string, args []string) (string, error) {
	switch {
	case len(args) == 1 && (b.namespace != "" || len(b.keys) > 0):
		return "", usageError("give the claim ID or --namespace and --key, not both")
	case len(args) == 1:
		return args[0], nil
	case b.namespace == "" || len(b.keys) == 0:
		return "", usageError("which record? give its claim ID (from `dynalock idempotency list`) or --namespace and --key; usage: dynalock %s %s", cmd, byKeyArgs)
	}
	return admin.ClaimID(b.namespace, b.function, b.keys...), nil
}

// keysFlag collects --key values in order.
type keysFlag []string

func (k *keysFlag) String() string     { return strings.Join(*k, ",") }
func (k *keysFlag) Set(s string) error { *k = append(*k, s); return nil }

func setupIdemList(fs *flag.FlagSet) func(context.Context, *app, []string) error {
	all := fs.Bool("all", false, "also list records whose next delivery runs the event: expired, forgotten, incomplete")
	namespace := fs.String("namespace", "", "list only the records of the wrapper namespace `N`")
	prefix := fs.String("prefix", "", "list only claim IDs that start with `P`")
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	return func(ctx context.Context, a *app, _ []string) error {
		if *namespace != "" && *prefix != "" {
			return usageError("give --namespace or --prefix, not both")
		}
		p := *prefix
		if *namespace != "" {
			p = *namespace + "/idempotency#" // every claim ID of the namespace starts so
		}
		db, err := a.client(ctx)
		if err != nil {
			return err
		}
		recs, err := scanLocks(ctx, a.def, db, a.table, p, 0, func(err error) {
			fmt.Fprintf(a.stderr, "dynalock idempotency list: skipping an item: %v\n", err)
		})
		if err != nil {
			return err
		}
		noteTTL(ctx, a, db)
		now := a.now()
		shown := recs[:0]
		for _, r := range recs {
			if !r.IsClaim() {
				continue
			}
			if st := r.ClaimState(now); *all || st == admin.ClaimCompleted || st == admin.ClaimInProgress {
				shown = append(shown, r)
			}
		}
		if *asJSON {
			views := make([]claimView, len(shown))
			for i, r := range shown {
				views[i] = claimViewOf(r, now)
			}
			return writeJSON(a.stdout, views)
		}
		if len(shown) == 0 {
			what := "no idempotency records in progress or completed"
			if *all {
				what = "no idempotency records"
			}
			if p != "" {
				what += fmt.Sprintf(" with IDs starting %q", p)
			}
			_, err := fmt.Fprintf(a.stdout, "%s in table %q\n", what, a.table)
			return err
		}
		return writeClaimTable(a.stdout, shown, now)
	}
}

func setupIdemShow(fs *flag.FlagSet) func(context.Context, *app, []string) error {
	var b byKey
	b.register(fs)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	result := fs.Bool("result", false, "print only the stored result, as stored (the handler's output as JSON; under WrapHTTP, the response)")
	return func(ctx context.Context, a *app, args []string) error {
		if *asJSON && *result {
			return usageError("give --json or --result, not both")
		}
		id, err := b.claimID(groupIdempotency+" show", args)
		if err != nil {
			return err
		}
		db, err := a.client(ctx)
		if err != nil {
			return err
		}
		rec, err := getClaim(ctx, a.def, db, a.table, id)
		if err != nil {
			return err
		}
		now := a.now()
		switch {
		case *result && rec.Result == nil:
			return withCode(exitNotFound, "idempotency record %q has no stored result (it is %s)", id, rec.ClaimState(now))
		case *result:
			_, err := fmt.Fprintf(a.stdout, "%s\n", rec.Result)
			return err
		case *asJSON:
			return writeJSON(a.stdout, claimViewOf(rec, now))
		}
		noteTTL(ctx, a, db)
		return writeClaim(a.stdout, rec, now)
	}
}

// getClaim reads the idempotency record id with a consistent read. A
// missing item is exitNotFound; a lock that is no idempotency record, an
// error.
func getClaim(ctx context.Context, def admin.TableDefinition, db *dynamodb.Client, table, id string) (admin.Record, error) {
	rec, err := getLock(ctx, def, db, table, id)
	var coded *codedError
	if errors.As(err, &coded) && coded.code == exitNotFound {
		return admin.Record{}, withCode(exitNotFound, "no idempotency record %q in table %q: no delivery of that event has run, "+
			"or its record was deleted by TTL after its completion expired (check --namespace, --function and --key)", id, table)
	}
	if err != nil {
		return admin.Record{}, err
	}
	if !rec.IsClaim() {
		return admin.Record{}, fmt.Errorf("lock %q is not an idempotency record: use `dynalock show %s`", id, id)
	}
	return rec, nil
}

// noteClaims writes a note to stderr when recs include idempotency
// records, whose lock state (released, under a hashed ID) says little:
// the idempotency commands show their state and keys.
func noteClaims(a *app, recs []admin.Record) {
	n := 0
	for _, r := range recs {
		if r.IsClaim() {
			n++
		}
	}
	switch {
	case n == 1 && len(recs) == 1:
		fmt.Fprintf(a.stderr, "dynalock: note: %q is an idempotency record: `dynalock idempotency show %s` shows its state and key\n", recs[0].LockID, recs[0].LockID)
	case n == 1:
		fmt.Fprintln(a.stderr, "dynalock: note: 1 of these is an idempotency record: `dynalock idempotency list --all` shows its state and key")
	case n > 1:
		fmt.Fprintf(a.stderr, "dynalock: note: %d of these are idempotency records: `dynalock idempotency list --all` shows their state and keys\n", n)
	}
}
