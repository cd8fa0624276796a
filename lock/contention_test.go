package lock_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynalock/dynalock/internal/lockopt"
	"github.com/dynalock/dynalock/lock"
)

// skewedClock returns a holder's clock that runs offset ahead of (or
// behind) the real one.
func skewedClock(offset time.Duration) func() time.Time {
	return func() time.Time { return time.Now().Add(offset) }
}

// TestContention runs many holders, each with its own DynamoDB connection
// and a clock skewed within the tolerance, through one lock and checks
// that no two critical sections overlap, fencing tokens strictly increase,
// and every holder got its turns.
func TestContention(t *testing.T) {
	const (
		holders = 12
		rounds  = 6
		skew    = 40 * time.Millisecond
	)
	ctx := context.Background()
	e := newEnv(t)

	var (
		inside  atomic.Int32
		overlap atomic.Int32
		mu      sync.Mutex // protects tokens
		tokens  []int64
	)
	var wg sync.WaitGroup
	for h := range holders {
		// Clocks from -skew/2 to +skew/2: pairwise apart by less than skew.
		offset := skewedClock(time.Duration(h)*skew/holders - skew/2)
		c := e.otherClient(lock.Config{ClockSkewTolerance: skew, Now: offset, Owner: fmt.Sprintf("holder-%d", h)})
		wg.Go(func() {
			for range rounds {
				err := c.Lock("contended").Do(ctx, func(ctx context.Context) error {
					if inside.Add(1) != 1 {
						overlap.Add(1)
					}
					l, _ := lock.FromContext(ctx)
					mu.Lock()
					tokens = append(tokens, l.FencingToken())
					mu.Unlock()
					time.Sleep(time.Millisecond)
					inside.Add(-1)
					return nil
				}, lock.WithWait(lock.WaitForever), lockopt.RetryInterval(2*time.Millisecond, 20*time.Millisecond))
				if err != nil {
					t.Errorf("holder %d: %v", h, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := overlap.Load(); n != 0 {
		t.Errorf("%d critical sections overlapped", n)
	}
	if len(tokens) != holders*rounds {
		t.Fatalf("%d critical sections ran, want %d", len(tokens), holders*rounds)
	}
	for i := 1; i < len(tokens); i++ {
		if tokens[i] <= tokens[i-1] {
			t.Fatalf("token %d = %d after %d: not increasing", i, tokens[i], tokens[i-1])
		}
	}
	if r := e.record("contended"); r.Held(time.Now()) {
		t.Errorf("lock left held by %s", r.Owner)
	}
}
