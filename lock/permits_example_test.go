package lock_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dynalock/dynalock/lock"
)

// At most two exports of one tenant at a time: each holder takes one of
// the lock ID's two permits, with a lease and a fencing token of its own;
// a third finds them all held.
func ExampleWithPermits() {
	ctx := context.Background()
	locks, err := lock.NewClient(ctx, lock.Config{TableName: exampleTable, TTL: time.Minute})
	if err != nil {
		fmt.Println(err)
		return
	}
	exports := locks.Lock("tenant/acme/exports")
	first, err := exports.Acquire(ctx, lock.WithPermits(2))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer first.Release(ctx)
	second, err := exports.Acquire(ctx, lock.WithPermits(2))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer second.Release(ctx)
	fmt.Println("two holders, tokens in order:", first.FencingToken() < second.FencingToken())

	_, err = exports.Acquire(ctx, lock.WithPermits(2))
	var held *lock.HeldError
	if errors.As(err, &held) {
		fmt.Println("a third is refused: all", held.Permits, "permits held")
	}
	// Output:
	// two holders, tokens in order: true
	// a third is refused: all 2 permits held
}
