package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/dynalock/dynalock/admin"
)

func setupCreateTable(*flag.FlagSet) func(context.Context, *app, []string) error {
	return func(ctx context.Context, a *app, _ []string) error {
		db, err := a.client(ctx)
		if err != nil {
			return err
		}
		if err := admin.CreateTable(ctx, db, a.table); err != nil {
			return err
		}
		_, err = fmt.Fprintf(a.stdout, "lock table %q is ready: partition key %s (S), TTL on %s\n",
			a.table, admin.Table.PartitionKey, admin.Table.TTLAttribute)
		return err
	}
}
