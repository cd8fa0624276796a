package lock_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/internal/lockopt"
	"github.com/dynalock/dynalock/lock"
)

// takeoverMarker is in the body of an acquire that takes over a lease
// version by the observed-lease rule, and no other request's.
const takeoverMarker = ":seenVer"

// shifted returns a wall clock d ahead of the real one (behind for d < 0).
func shifted(d time.Duration) func() time.Time {
	return func() time.Time { return time.Now().Add(d) }
}

// frozen returns a wall clock that always says the same time, d from now.
func frozen(d time.Duration) func() time.Time {
	t := time.Now().Add(d)
	return func() time.Time { return t }
}

// takeoverWatch records, by the local monotonic clock, when a waiter's
// connection sent each takeover by the observed-lease rule, and loses the
// first one's answer when drop is set (DynamoDB applies it).
type takeoverWatch struct {
	drop bool
	mu   sync.Mutex
	sent map[string]time.Time // by request body
}

func (w *takeoverWatch) rule(r httpfault.Request) httpfault.Action {
	if r.Op != "UpdateItem" || !strings.Contains(string(r.Body), takeoverMarker) {
		return httpfault.Action{}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	first := len(w.sent) == 0
	if w.sent == nil {
		w.sent = map[string]time.Time{}
	}
	if _, ok := w.sent[string(r.Body)]; !ok {
		w.sent[string(r.Body)] = time.Now()
	}
	if first && w.drop {
		return httpfault.Action{Kind: httpfault.DropResponse}
	}
	return httpfault.Action{}
}

// sentAt returns when the takeover of lease leaseID was first sent (the
// zero time if it was none); earlier takeovers may have been refused,
// the version having changed since it was seen.
func (w *takeoverWatch) sentAt(leaseID string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	for body, at := range w.sent {
		if strings.Contains(body, leaseID) {
			return at
		}
	}
	return time.Time{}
}

// TestObservedTakeover: a holder whose clock is far ahead (an hour, far
// beyond the tolerance) dies holding the lock; its stored lease end is an
// hour away, so the wall-clock rule would keep a waiter out for an hour.
// A waiter that watches the lease takes it over by the observed-lease
// rule, and sends its takeover only after the dead holder's lease ended
// by the holder's own monotonic clock. With the takeover's answer lost
// (DynamoDB applied it), the SDK's retry finds its own lease and the
// waiter has the lock.
func TestObservedTakeover(t *testing.T) {
	for _, drop := range []bool{false, true} {
		name := "answered"
		if drop {
			name = "answer-lost"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			id := "observed-" + name
			const ttl = 2 * time.Second
			holder := e.otherClient(lock.Config{TTL: ttl, Now: shifted(time.Hour)})
			dead := acquireOnLoadedMachine(t, holder, id)
			holderEnd := dead.Deadline().Add(testSkew)
			w := &takeoverWatch{drop: drop}
			e.net.Rule = w.rule
			l, err := e.client(lock.Config{}).Lock(id).Acquire(ctx, lock.WithWait(10*time.Second))
			if err != nil {
				t.Fatalf("waiter: %v, want the lock by the observed-lease rule", err)
			}
			defer l.Release(ctx)
			if sent := w.sentAt(l.LeaseID()); sent.IsZero() || sent.Before(holderEnd) {
				t.Errorf("takeover sent %s before the dead holder's lease ended by its own clock", holderEnd.Sub(sent))
			}
			if r := e.record(id); r.LeaseID != l.LeaseID() || r.Released {
				t.Errorf("item %+v is not the waiter's lease %s", r, l.LeaseID())
			}
			if drop && e.net.Faults()[httpfault.DropResponse] != 1 {
				t.Errorf("%d answers lost, want 1", e.net.Faults()[httpfault.DropResponse])
			}
		})
	}
}

// TestObservedRuleWaitsForExtends: a holder whose wall clock is frozen an
// hour ahead extends its lease again and again; each extend stores the
// same lease end (its clock does not move) but moves the holder's own end
// by its monotonic clock. The waiter watching it must not count from its
// first look: every extend is a new lease version, and the takeover comes
// only after the holder's last extended end. Some extends lose their
// answer after DynamoDB applied them, and one lands late, after its caller
// gave up on it.
func TestObservedRuleWaitsForExtends(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const id = "observed-extends"
	const ttl = 2 * time.Second
	hnet := &httpfault.Client{Next: e.net.Next}
	var n atomic.Int32
	hnet.Rule = func(r httpfault.Request) httpfault.Action {
		if !strings.Contains(string(r.Body), extendMarker) {
			return httpfault.Action{}
		}
		switch n.Add(1) % 4 {
		case 1:
			return httpfault.Action{Kind: httpfault.DropResponse}
		case 3:
			return httpfault.Action{Kind: httpfault.LandLate, Delay: 250 * time.Millisecond}
		}
		return httpfault.Action{}
	}
	holder := e.clientOn(srv.Client(func(o *dynamodb.Options) { o.HTTPClient = hnet }), lock.Config{TTL: ttl, Now: frozen(time.Hour)})
	l := acquireOnLoadedMachine(t, holder, id)
	w := &takeoverWatch{}
	e.net.Rule = w.rule
	type result struct {
		l   *lock.Lease
		err error
	}
	got := make(chan result, 1)
	go func() {
		wl, err := e.client(lock.Config{}).Lock(id).Acquire(ctx, lock.WithWait(20*time.Second))
		got <- result{wl, err}
	}()
	// Extend for about three leases, every quarter lease; one that fails
	// (its answer lost, or landing late) is followed by the next. On a
	// machine so slow that the holder misses its deadline or loses the
	// lock, it dies there: the takeover must still come after its end.
	for range 12 {
		time.Sleep(ttl / 4)
		if !time.Now().Before(l.Deadline()) {
			break
		}
		ectx, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
		err := l.Extend(ectx, 0)
		cancel()
		if errors.Is(err, lock.ErrLockLost) {
			break
		}
	}
	holderEnd := l.Deadline().Add(testSkew) // the holder dies here
	r := <-got
	if r.err != nil {
		t.Fatalf("waiter: %v, want the lock once the holder stopped extending", r.err)
	}
	defer r.l.Release(ctx)
	hnet.WaitLate()
	if sent := w.sentAt(r.l.LeaseID()); sent.IsZero() || sent.Before(holderEnd) {
		t.Errorf("takeover sent %s before the holder's extended lease ended by its own clock", holderEnd.Sub(sent))
	}
	if rec := e.record(id); rec.LeaseID != r.l.LeaseID() {
		t.Errorf("item %+v is not the waiter's lease %s", rec, r.l.LeaseID())
	}
}

// acquireOnLoadedMachine acquires id, trying again while an answer comes
// too late for the lease (a loaded machine, a cold DynamoDB Local).
func acquireOnLoadedMachine(t *testing.T, c *lock.Client, id string) *lock.Lease {
	t.Helper()
	for i := 0; ; i++ {
		l, err := c.Lock(id).Acquire(context.Background())
		if err == nil {
			return l
		}
		if i == 5 || !strings.Contains(err.Error(), "past the lease's deadline") {
			t.Fatal(err)
		}
	}
}

// TestObservedRuleAloneWithClockBehind: with the wall-clock rule off
// (lockopt.Options.NoWallTakeover), a holder whose clock is an hour behind
// stores a lease end an hour in the past. The wall-clock rule would let a
// waiter in at once, while the holder still works: clocks skewed beyond
// the tolerance break it. The observed-lease rule alone waits for the
// holder's lease to end by the holder's own clock.
func TestObservedRuleAloneWithClockBehind(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const id = "observed-alone"
	noWall := func(o *lockopt.Options) { o.NoWallTakeover = true }
	holder := e.otherClient(lock.Config{TTL: 2 * time.Second, Now: shifted(-time.Hour)})
	dead, err := holder.Lock(id).Acquire(ctx, noWall)
	if err != nil {
		t.Fatal(err)
	}
	holderEnd := dead.Deadline().Add(testSkew)
	w := &takeoverWatch{}
	e.net.Rule = w.rule
	l, err := e.client(lock.Config{}).Lock(id).Acquire(ctx, lock.WithWait(10*time.Second), noWall)
	if err != nil {
		t.Fatalf("waiter: %v", err)
	}
	defer l.Release(ctx)
	if sent := w.sentAt(l.LeaseID()); sent.IsZero() || sent.Before(holderEnd) {
		t.Errorf("takeover sent %s before the holder's lease ended by its own clock (or not by the observed rule: %v)", holderEnd.Sub(sent), sent)
	}
	// And with the wall rule on, the same skew lets a waiter in at once:
	// what the rule's assumption (clocks within the tolerance) is for.
	again, err := holder.Lock(id + "-wall").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Release(ctx)
	if early, err := e.client(lock.Config{}).Lock(id + "-wall").Acquire(ctx); err == nil {
		_ = early.Release(ctx)
	} else {
		t.Errorf("wall rule with a holder an hour behind: %v, want the (unsafe) takeover it allows", err)
	}
}

// TestWaiterReadsBetweenWrites: a waiter whose DynamoDB client can read
// waits on a held lock with eventually consistent reads, not failed
// writes, and still takes the lock soon after the release; one whose
// client cannot (only the DynamoDBAPI methods) writes at each step and
// takes it too.
func TestWaiterReadsBetweenWrites(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	holder := e.otherClient(lock.Config{TTL: time.Minute})
	for _, reads := range []bool{true, false} {
		id := "reads-between-writes"
		var db lock.DynamoDBAPI = e.db
		if !reads {
			id += "-writes-only"
			db = writesOnly{e.db}
		}
		h, err := holder.Lock(id).Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		e.net.Reset()
		done := make(chan error, 1)
		go func() {
			l, err := e.clientOn(db, lock.Config{}).Lock(id).Acquire(ctx, lock.WithWait(30*time.Second))
			if err == nil {
				err = l.Release(ctx)
			}
			done <- err
		}()
		time.Sleep(1500 * time.Millisecond)
		writes, gets := e.net.Count("UpdateItem"), e.net.Count("GetItem")
		if err := h.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("reads %v: waiter: %v", reads, err)
		}
		switch {
		case reads && (writes != 1 || gets == 0):
			t.Errorf("waiter with reads: %d writes and %d reads while the lock was held, want 1 write and some reads", writes, gets)
		case !reads && (writes < 2 || gets != 0):
			t.Errorf("waiter without reads: %d writes and %d reads while the lock was held, want writes only", writes, gets)
		}
	}
}

// writesOnly is a DynamoDB client with only the methods DynamoDBAPI asks
// for.
type writesOnly struct{ db *dynamodb.Client }

func (w writesOnly) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return w.db.UpdateItem(ctx, in, opts...)
}

func (w writesOnly) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return w.db.TransactWriteItems(ctx, in, opts...)
}

// TestWaiterWithoutReadPermission: a waiter whose role may not read the
// lock table (dynamodb:UpdateItem alone) tries one read, then waits by
// writes alone, and takes the lock after its release.
func TestWaiterWithoutReadPermission(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const id = "reads-denied"
	h, err := e.otherClient(lock.Config{TTL: time.Minute}).Lock(id).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db := &deniedReads{Client: e.db}
	done := make(chan error, 1)
	go func() {
		l, err := e.clientOn(db, lock.Config{}).Lock(id).Acquire(ctx, lock.WithWait(30*time.Second))
		if err == nil {
			err = l.Release(ctx)
		}
		done <- err
	}()
	time.Sleep(time.Second)
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("waiter: %v", err)
	}
	if n := db.reads.Load(); n != 1 {
		t.Errorf("%d reads denied, want 1 (then writes alone)", n)
	}
	if n := e.net.Count("UpdateItem"); n < 3 {
		t.Errorf("%d writes, want the waiter's attempts at each step", n)
	}
}

// deniedReads is a DynamoDB client whose role may not read.
type deniedReads struct {
	*dynamodb.Client
	reads atomic.Int32
}

func (d *deniedReads) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	d.reads.Add(1)
	return nil, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized to perform: dynamodb:GetItem"}
}
