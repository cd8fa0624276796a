package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/dynalock/dynalock/admin"
	"time"
)

func setupList(fs *flag.FlagSet) func(context.Context, *app, []string) error {
	all := fs.Bool("all", false, "also list locks whose lease ended or was released")
	prefix := fs.String("prefix", "", "list only lock IDs that start with `P`")
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	pageSize := fs.Int("page-size", 0, "items read per Scan request (default: DynamoDB's 1 MB pages)")
	return func(ctx context.Context, a *app, _ []string) error {
		if *pageSize < 0 || *pageSize > 1<<20 {
			return usageError("--page-size must be between 0 and %d", 1<<20)
		}
		db, err := a.client(ctx)
		if err != nil {
			return err
		}
		recs, err := scanLocks(ctx, a.def, db, a.table, *prefix, int32(*pageSize), func(err error) {
			fmt.Fprintf(a.stderr, "dynalock list: skipping an item: %v\n", err)
		})
		if err != nil {
			return err
		}
		noteTTL(ctx, a, db)
		now := a.now()
		shown := recs[:0]
		for _, r := range recs {
			if *all || r.Held(now) {
				shown = append(shown, r)
			}
		}
		noteClaims(a, shown)
		return printList(a, shown, now, *asJSON, *all, *prefix)
	}
}

func printList(a *app, recs []admin.Record, now time.Time, asJSON, all bool, prefix string) error {
	if asJSON {
		views := make([]lockView, len(recs))
		for i, r := range recs {
			views[i] = viewOf(r, now)
		}
		return writeJSON(a.stdout, views)
	}
	if len(recs) == 0 {
		what := "no held locks"
		if all {
			what = "no locks"
		}
		if prefix != "" {
			what += fmt.Sprintf(" with IDs starting %q", prefix)
		}
		_, err := fmt.Fprintf(a.stdout, "%s in table %q\n", what, a.table)
		return err
	}
	return writeTable(a.stdout, recs, now)
}
