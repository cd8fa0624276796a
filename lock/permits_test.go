package lock_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/internal/lockopt"
	"github.com/dynalock/dynalock/lock"
)

// TestPermits checks a lock ID of N > 1 permits against DynamoDB Local,
// one behaviour per case.
func TestPermits(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		run  func(t *testing.T, e *env)
	}{
		{"N holders in, the next refused", func(t *testing.T, e *env) {
			c := e.client(lock.Config{TTL: 10 * time.Second})
			var leases []*lock.Lease
			for i := range 3 {
				l, err := c.Lock("sem").Acquire(ctx, lock.WithPermits(3))
				if err != nil {
					t.Fatalf("holder %d: %v", i, err)
				}
				leases = append(leases, l)
			}
			_, err := c.Lock("sem").Acquire(ctx, lock.WithPermits(3))
			var held *lock.HeldError
			if !errors.As(err, &held) || !errors.Is(err, lock.ErrLockAlreadyAcquired) {
				t.Fatalf("4th holder: %v, want a *HeldError", err)
			}
			if held.Permits != 3 || held.Holder.LeaseID != firstToEnd(leases) {
				t.Errorf("HeldError names %d permits, holder %q; want 3 and the first to end %q", held.Permits, held.Holder.LeaseID, firstToEnd(leases))
			}
			t.Log(err)
		}},
		{"release frees a permit", func(t *testing.T, e *env) {
			c := e.client(lock.Config{TTL: 10 * time.Second})
			a, _ := c.Lock("sem").Acquire(ctx, lock.WithPermits(2))
			_, _ = c.Lock("sem").Acquire(ctx, lock.WithPermits(2))
			if _, err := c.Lock("sem").Acquire(ctx, lock.WithPermits(2)); !errors.Is(err, lock.ErrLockAlreadyAcquired) {
				t.Fatalf("3rd holder: %v, want held", err)
			}
			if err := a.Release(ctx); err != nil {
				t.Fatal(err)
			}
			e.net.Reset()
			if _, err := c.Lock("sem").Acquire(ctx, lock.WithPermits(2)); err != nil {
				t.Fatalf("after a release: %v", err)
			}
			if n := e.net.Total(); n != 1 {
				t.Errorf("acquiring a free permit sent %d requests, want 1", n)
			}
		}},
		{"a waiter gets the permit a release frees", func(t *testing.T, e *env) {
			c := e.client(lock.Config{TTL: 10 * time.Second})
			a, _ := c.Lock("sem").Acquire(ctx, lock.WithPermits(2))
			_, _ = c.Lock("sem").Acquire(ctx, lock.WithPermits(2))
			go func() { time.Sleep(50 * time.Millisecond); _ = a.Release(ctx) }()
			l, err := c.Lock("sem").Acquire(ctx, lock.WithPermits(2), lock.WithWait(lock.WaitForever),
				lockopt.RetryInterval(5*time.Millisecond, 20*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			if l.FencingToken() <= a.FencingToken() {
				t.Errorf("token %d after %d", l.FencingToken(), a.FencingToken())
			}
		}},
		{"expiry frees one, with two requests", func(t *testing.T, e *env) {
			c := e.client(lock.Config{TTL: 400 * time.Millisecond})
			if _, err := c.Lock("sem").Acquire(ctx, lock.WithPermits(2), lockopt.TTL(10*time.Second)); err != nil {
				t.Fatal(err)
			}
			dead, err := c.Lock("sem").Acquire(ctx, lock.WithPermits(2))
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(400*time.Millisecond + testSkew + 20*time.Millisecond)
			e.net.Reset()
			l, err := c.Lock("sem").Acquire(ctx, lock.WithPermits(2))
			if err != nil {
				t.Fatalf("after the lapse: %v", err)
			}
			if n := e.net.Total(); n != 2 {
				t.Errorf("taking over a lapsed permit sent %d requests, want 2", n)
			}
			if l.FencingToken() <= dead.FencingToken() {
				t.Errorf("token %d after %d", l.FencingToken(), dead.FencingToken())
			}
			// The lapsed holder lost its permit: its release, extend and
			// write say so, and the successor keeps its own.
			if err := dead.Extend(ctx, time.Second); !errors.Is(err, lock.ErrLockLost) {
				t.Errorf("lapsed holder's extend: %v, want ErrLockLost", err)
			}
			if err := dead.Write(ctx, putItem(e, "sem-w", "stale")); !errors.Is(err, lock.ErrLockLost) {
				t.Errorf("lapsed holder's write: %v, want ErrLockLost", err)
			}
			if got := readItem(t, e, "sem-w"); got != "" {
				t.Errorf("the lapsed holder's write was applied: %q", got)
			}
			if err := dead.Release(ctx); !errors.Is(err, lock.ErrLockLost) || !errors.Is(err, lock.ErrLockRelease) {
				t.Errorf("lapsed holder's release: %v, want ErrLockLost", err)
			}
			if err := l.Write(ctx, putItem(e, "sem-w", "fresh")); err != nil {
				t.Errorf("successor's write: %v", err)
			}
			if err := l.Release(ctx); err != nil {
				t.Errorf("successor's release: %v", err)
			}
		}},
		{"tokens increase, one per lease", func(t *testing.T, e *env) {
			c := e.client(lock.Config{TTL: 10 * time.Second})
			seen := map[int64]bool{}
			var last int64
			for i := range 6 {
				l, err := c.Lock("sem").Acquire(ctx, lock.WithPermits(4))
				if err != nil {
					t.Fatal(err)
				}
				tok := l.FencingToken()
				if tok <= last || seen[tok] {
					t.Fatalf("lease %d: token %d after %d", i, tok, last)
				}
				seen[tok], last = true, tok
				if i%2 == 1 {
					_ = l.Release(ctx)
				}
			}
		}},
		{"extend keeps a permit past its TTL", func(t *testing.T, e *env) {
			c := e.client(lock.Config{TTL: 400 * time.Millisecond})
			if _, err := c.Lock("sem").Acquire(ctx, lock.WithPermits(2), lockopt.TTL(10*time.Second)); err != nil {
				t.Fatal(err)
			}
			a, err := c.Lock("sem").Acquire(ctx, lock.WithPermits(2))
			if err != nil {
				t.Fatal(err)
			}
			before := a.Deadline()
			if err := a.Extend(ctx, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if !a.Deadline().After(before) {
				t.Errorf("Deadline did not move: %v then %v", before, a.Deadline())
			}
			time.Sleep(400*time.Millisecond + testSkew + 20*time.Millisecond)
			if _, err := c.Lock("sem").Acquire(ctx, lock.WithPermits(2)); !errors.Is(err, lock.ErrLockAlreadyAcquired) {
				t.Errorf("after the first TTL: %v, want held (the extended permit is still held)", err)
			}
			if err := a.Extend(ctx, time.Second); err != nil {
				t.Errorf("a shorter extend: %v, want nil (it changes nothing)", err)
			}
		}},
		{"Do with a heartbeat runs past the TTL", func(t *testing.T, e *env) {
			c := e.client(lock.Config{TTL: 400 * time.Millisecond, Heartbeat: 100 * time.Millisecond})
			warm, err := c.Lock("sem").Acquire(ctx, lock.WithPermits(2))
			if err != nil {
				t.Fatal(err)
			}
			_ = warm.Release(ctx)
			err = c.Lock("sem").Do(ctx, func(ctx context.Context) error {
				l, ok := lock.FromContext(ctx)
				if !ok || l.FencingToken() == 0 {
					return errors.New("no lease in the context")
				}
				select {
				case <-time.After(time.Second):
					return nil
				case <-ctx.Done():
					return context.Cause(ctx)
				}
			}, lock.WithPermits(2))
			if err != nil {
				t.Fatal(err)
			}
		}},
		{"Complete writes and releases", func(t *testing.T, e *env) {
			c := e.client(lock.Config{TTL: 10 * time.Second})
			a, _ := c.Lock("sem").Acquire(ctx, lock.WithPermits(2))
			_, _ = c.Lock("sem").Acquire(ctx, lock.WithPermits(2))
			if err := a.Complete(ctx, nil, putItem(e, "sem-c", "done")); err != nil {
				t.Fatal(err)
			}
			if got := readItem(t, e, "sem-c"); got != "done" {
				t.Errorf("item %q, want done", got)
			}
			if _, err := c.Lock("sem").Acquire(ctx, lock.WithPermits(2)); err != nil {
				t.Errorf("after Complete: %v, want a free permit", err)
			}
			if err := a.Write(ctx, putItem(e, "sem-c", "again")); !errors.Is(err, lock.ErrLockLost) {
				t.Errorf("Write after Complete: %v, want ErrLockLost", err)
			}
		}},
		{"several IDs: a permit of each, all or none", func(t *testing.T, e *env) {
			c := e.client(lock.Config{TTL: 10 * time.Second})
			for range 2 {
				if _, err := c.Lock("a").Acquire(ctx, lock.WithPermits(2)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := c.Lock("a", "b").Acquire(ctx, lock.WithPermits(2)); !errors.Is(err, lock.ErrLockAlreadyAcquired) {
				t.Fatalf("a, b with a full: %v, want held", err)
			}
			l1, err := c.Lock("b", "c").Acquire(ctx, lock.WithPermits(2))
			if err != nil {
				t.Fatal(err)
			}
			l2, err := c.Lock("b", "c").Acquire(ctx, lock.WithPermits(2))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Lock("c").Acquire(ctx, lock.WithPermits(2)); !errors.Is(err, lock.ErrLockAlreadyAcquired) {
				t.Errorf("c after two of b, c: %v, want held", err)
			}
			if len(l1.Tokens()) != 2 || l1.Tokens()["b"] >= l2.Tokens()["b"] {
				t.Errorf("tokens %v then %v", l1.Tokens(), l2.Tokens())
			}
		}},
		{"another count is refused, not waited for", func(t *testing.T, e *env) {
			c := e.client(lock.Config{TTL: 10 * time.Second})
			if _, err := c.Lock("sem").Acquire(ctx, lock.WithPermits(3)); err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{2, 4, 1} {
				_, err := c.Lock("sem").Acquire(ctx, lock.WithPermits(n), lock.WithWait(time.Minute))
				if !errors.Is(err, lock.ErrLockAcquisition) || errors.Is(err, lock.ErrLockAlreadyAcquired) {
					t.Errorf("WithPermits(%d) on an ID held with 3: %v, want ErrLockAcquisition, not held", n, err)
				}
				t.Log(err)
			}
			if _, err := c.Lock("single").Acquire(ctx); err != nil {
				t.Fatal(err)
			}
			_, err := c.Lock("single").Acquire(ctx, lock.WithPermits(2))
			if !errors.Is(err, lock.ErrLockAcquisition) || errors.Is(err, lock.ErrLockAlreadyAcquired) {
				t.Errorf("WithPermits(2) on a held lock: %v, want ErrLockAcquisition, not held", err)
			}
		}},
		{"the count changes once the old holders are gone", func(t *testing.T, e *env) {
			c := e.client(lock.Config{TTL: 10 * time.Second})
			a, _ := c.Lock("sem").Acquire(ctx, lock.WithPermits(3))
			_ = a.Release(ctx)
			single, err := c.Lock("single").Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_ = single.Release(ctx)
			for _, id := range []string{"sem", "single"} {
				if _, err := c.Lock(id).Acquire(ctx, lock.WithPermits(2)); err != nil {
					t.Errorf("%s: %v", id, err)
				}
			}
			if _, err := c.Lock("single").Acquire(ctx); !errors.Is(err, lock.ErrLockAcquisition) || errors.Is(err, lock.ErrLockAlreadyAcquired) {
				t.Errorf("one permit on a permit item: %v, want a refusal", err)
			}
		}},
		{"bad input", func(t *testing.T, e *env) {
			c := e.client(lock.Config{TTL: 10 * time.Second})
			for _, n := range []int{0, -1, 101} {
				if _, err := c.Lock("sem").Acquire(ctx, lock.WithPermits(n)); !errors.Is(err, lock.ErrInvalidInput) {
					t.Errorf("WithPermits(%d): %v, want ErrInvalidInput", n, err)
				}
			}
			if _, err := c.Claim(ctx, "event/1", nil, lock.WithPermits(2)); !errors.Is(err, lock.ErrInvalidInput) {
				t.Errorf("Claim with permits: %v, want ErrInvalidInput", err)
			}
			if n := e.net.Total(); n != 0 {
				t.Errorf("%d requests sent for bad input", n)
			}
		}},
		{"a lost answer: the acquire's and the release's retries are judged", func(t *testing.T, e *env) {
			c := e.client(lock.Config{TTL: 10 * time.Second})
			warm, err := c.Lock("sem").Acquire(ctx, lock.WithPermits(2))
			if err != nil {
				t.Fatal(err)
			}
			_ = warm.Release(ctx)
			e.net.Rule = dropFirst("UpdateItem", "PermitTokens")
			l, err := c.Lock("sem").Acquire(ctx, lock.WithPermits(2))
			if err != nil || e.net.Faults()[httpfault.DropResponse] != 1 {
				t.Fatalf("acquire with a lost answer: %v (%d dropped)", err, e.net.Faults()[httpfault.DropResponse])
			}
			other, err := c.Lock("sem").Acquire(ctx, lock.WithPermits(2))
			if err != nil {
				t.Fatalf("the second permit: %v (the retry took two?)", err)
			}
			if _, err := c.Lock("sem").Acquire(ctx, lock.WithPermits(2)); !errors.Is(err, lock.ErrLockAlreadyAcquired) {
				t.Fatalf("a third: %v, want held", err)
			}
			e.net.Rule = dropFirst("UpdateItem", "REMOVE")
			if err := l.Release(ctx); err != nil {
				t.Errorf("release with a lost answer: %v, want success", err)
			}
			if err := other.Release(ctx); err != nil {
				t.Errorf("the other's release: %v", err)
			}
			if err := l.Release(ctx); err != nil {
				t.Errorf("a second release: %v", err)
			}
		}},
		{"the first use costs three requests, then one", func(t *testing.T, e *env) {
			c := e.client(lock.Config{TTL: 10 * time.Second})
			e.net.Reset()
			l, err := c.Lock("sem").Acquire(ctx, lock.WithPermits(4))
			if err != nil {
				t.Fatal(err)
			}
			if n := e.net.Total(); n != 3 {
				t.Errorf("first acquire: %d requests, want 3", n)
			}
			e.net.Reset()
			_ = l.Release(ctx)
			if _, err := c.Lock("sem").Acquire(ctx, lock.WithPermits(4)); err != nil {
				t.Fatal(err)
			}
			if n := e.net.Total(); n != 2 {
				t.Errorf("release and acquire: %d requests, want 2", n)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newEnv(t)) })
	}
}

// TestPermitsContention runs holders that each take one of N permits of
// one ID many times, each on its own connection, and checks that never
// more than N are inside at once, that all N were used together, and that
// no token was handed out twice.
func TestPermitsContention(t *testing.T) {
	const (
		permits = 3
		holders = 9
		rounds  = 5
	)
	ctx := context.Background()
	e := newEnv(t)
	var (
		inside, most atomic.Int32
		mu           sync.Mutex // protects tokens
		tokens       = map[int64]bool{}
	)
	var wg sync.WaitGroup
	for h := range holders {
		c := e.otherClient(lock.Config{TTL: 10 * time.Second, Owner: fmt.Sprintf("holder-%d", h)})
		wg.Go(func() {
			for range rounds {
				err := c.Lock("sem").Do(ctx, func(ctx context.Context) error {
					n := inside.Add(1)
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
					}
					l, _ := lock.FromContext(ctx)
					mu.Lock()
					dup := tokens[l.FencingToken()]
					tokens[l.FencingToken()] = true
					mu.Unlock()
					if dup {
						t.Errorf("token %d handed out twice", l.FencingToken())
					}
					time.Sleep(5 * time.Millisecond)
					inside.Add(-1)
					return nil
				}, lock.WithPermits(permits), lock.WithWait(lock.WaitForever), lockopt.RetryInterval(2*time.Millisecond, 20*time.Millisecond))
				if err != nil {
					t.Errorf("holder %d: %v", h, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if m := most.Load(); m > permits {
		t.Errorf("%d holders inside at once, more than %d permits", m, permits)
	}
	if len(tokens) != holders*rounds {
		t.Errorf("%d sections ran, want %d", len(tokens), holders*rounds)
	}
	t.Logf("at most %d inside at once (permits %d)", most.Load(), permits)
}

// firstToEnd returns the lease ID of the lease that ends first.
func firstToEnd(leases []*lock.Lease) string {
	first := leases[0]
	for _, l := range leases[1:] {
		if l.Deadline().Before(first.Deadline()) {
			first = l
		}
	}
	return first.LeaseID()
}

// putItem is a Put of item pk = v into the accounts table.
func putItem(e *env, pk, v string) dtypes.TransactWriteItem {
	return dtypes.TransactWriteItem{Put: &dtypes.Put{
		TableName: aws.String(exampleAccounts),
		Item: map[string]dtypes.AttributeValue{
			"pk": &dtypes.AttributeValueMemberS{Value: e.table + "/" + pk},
			"v":  &dtypes.AttributeValueMemberS{Value: v},
		},
	}}
}

// readItem reads the value putItem wrote, or "".
func readItem(t *testing.T, e *env, pk string) string {
	t.Helper()
	out, err := srv.Client().GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName:      aws.String(exampleAccounts),
		Key:            map[string]dtypes.AttributeValue{"pk": &dtypes.AttributeValueMemberS{Value: e.table + "/" + pk}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := out.Item["v"].(*dtypes.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}
