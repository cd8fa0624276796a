package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/dynalock/dynalock/lock"
)

func setupAcquire(fs *flag.FlagSet) func(context.Context, *app, []string) error {
	ttl := fs.Duration("ttl", lock.DefaultTTL, "how long (`D`) the lock stays held: whole milliseconds, over 1s")
	owner := fs.String("owner", defaultBy(), "holder's `NAME`, stored in the lock's item")
	return func(ctx context.Context, a *app, args []string) error {
		db, err := a.client(ctx)
		if err != nil {
			return err
		}
		c, err := lock.NewClient(ctx, a.config(lock.Config{DynamoDB: db, Owner: *owner, TTL: *ttl}))
		if err != nil {
			return usageError("%w", err)
		}
		l, err := c.Lock(args[0]).Acquire(ctx)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(a.stdout, "Acquired lock %q as %q for %s: lease %s, fencing token %d.\n"+
			"To release it early: dynalock release %s --force --token %d --reason TEXT\n",
			l.LockID(), *owner, *ttl, l.LeaseID(), l.FencingToken(), l.LockID(), l.FencingToken())
		return err
	}
}
