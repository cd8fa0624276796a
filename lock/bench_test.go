package lock_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/lock"
)

// BenchmarkAcquireRelease measures one uncontended acquire + release cycle
// (two DynamoDB requests) against DynamoDB Local. make bench compares it
// with the raw SDK floor and the peer library.
func BenchmarkAcquireRelease(b *testing.B) {
	ctx := context.Background()
	table := "bench-" + strconv.Itoa(b.N)
	if err := admin.CreateTable(ctx, srv.Client(), table); err != nil {
		b.Fatal(err)
	}
	c, err := lock.NewClient(ctx, lock.Config{TableName: table, DynamoDB: srv.Client()})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l, err := c.Lock("bench-" + strconv.Itoa(i%64)).Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Release(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
