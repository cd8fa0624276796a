package lock_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dynalock/dynalock/lock"
)

// TestRequestsPerOperation counts requests at the HTTP layer: acquiring a
// free, released or expired lock, releasing, extending and a contended
// attempt each cost exactly one DynamoDB request.
func TestRequestsPerOperation(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := e.client(lock.Config{TTL: 200 * time.Millisecond})

	step := func(name string, want int, f func() error) {
		t.Helper()
		e.net.Reset()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := e.net.Total(); got != want || e.net.Count("UpdateItem") != want {
			t.Errorf("%s: %d requests, want %d UpdateItem", name, got, want)
		}
	}
	var l *lock.Lease
	step("acquire new lock", 1, func() (err error) { l, err = c.Lock("rq").Acquire(ctx); return err })
	step("extend", 1, func() error { return l.Extend(ctx, 0) })
	step("contended attempt", 1, func() error {
		_, err := c.Lock("rq").Acquire(ctx)
		if !errors.Is(err, lock.ErrLockAlreadyAcquired) {
			return err
		}
		return nil
	})
	step("release", 1, func() error { return l.Release(ctx) })
	step("acquire released lock", 1, func() (err error) { l, err = c.Lock("rq").Acquire(ctx); return err })
	time.Sleep(300 * time.Millisecond) // let the lease (200 ms) and tolerance (20 ms) pass
	step("acquire expired lock", 1, func() (err error) { l, err = c.Lock("rq").Acquire(ctx); return err })
	step("Do", 2, func() error { return c.Lock("rq-do").Do(ctx, func(context.Context) error { return nil }) })
}
