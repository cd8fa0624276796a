package main

import (
	"context"
	"flag"

	"github.com/dynalock/dynalock/admin"
)

func setupShow(fs *flag.FlagSet) func(context.Context, *app, []string) error {
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	return func(ctx context.Context, a *app, args []string) error {
		db, err := a.client(ctx)
		if err != nil {
			return err
		}
		rec, err := getLock(ctx, a.def, db, a.table, args[0])
		if err != nil {
			return err
		}
		noteTTL(ctx, a, db)
		noteClaims(a, []admin.Record{rec})
		now := a.now()
		if *asJSON {
			return writeJSON(a.stdout, viewOf(rec, now))
		}
		return writeRecord(a.stdout, rec, now)
	}
}
