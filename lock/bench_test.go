package lock_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/lock"
)

// BenchmarkAcquireRelease measures one uncontended acquire + release cycle
// (two DynamoDB requests) against DynamoDB Local. make bench compares it
// with the raw SDK floor and the peer library.
func BenchmarkAcquireRelease(b *testing.B) {
	ctx := context.Background()
	table := "bench-" + strconv.Itoa(b.N)
	if err := lock.CreateTable(ctx, srv.Client(), table); err != nil {
		b.Fatal(err)
	}
	c, err := lock.NewClient(srv.Client(func(o *dynamodb.Options) {}), table)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l, err := c.TryAcquire(ctx, "bench-"+strconv.Itoa(i%64))
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Release(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
