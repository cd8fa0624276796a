package main

import (
	"context"
	"flag"
	"fmt"
)

func setupCreateTable(*flag.FlagSet) func(context.Context, *app, []string) error {
	return func(ctx context.Context, a *app, _ []string) error {
		db, err := a.client(ctx)
		if err != nil {
			return err
		}
		if err := a.def.CreateTable(ctx, db, a.table); err != nil {
			return err
		}
		key := fmt.Sprintf("partition key %s (S)", a.def.PartitionKey)
		if a.def.SortKey != "" {
			key += fmt.Sprintf(", sort key %s (S)", a.def.SortKey)
		}
		_, err = fmt.Fprintf(a.stdout, "lock table %q is ready: %s, TTL on %s\n", a.table, key, a.def.TTLAttribute)
		return err
	}
}
