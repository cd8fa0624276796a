package lock_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/internal/lockopt"
	"github.com/dynalock/dynalock/lock"
)

// dropFirst loses the response of the first request of op whose body
// contains marker, after DynamoDB applied it.
func dropFirst(op, marker string) httpfault.Rule {
	dropped := false
	return func(r httpfault.Request) httpfault.Action {
		if !dropped && r.Op == op && strings.Contains(string(r.Body), marker) {
			dropped = true
			return httpfault.Action{Kind: httpfault.DropResponse}
		}
		return httpfault.Action{}
	}
}

// TestLostAcquireResponse: the first acquire request reaches DynamoDB but
// its response is lost; the SDK's retry finds the lock held by this very
// lease and succeeds as the same owner.
func TestLostAcquireResponse(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.net.Rule = dropFirst("UpdateItem", "if_not_exists")
	l, err := e.client(lock.Config{}).Lock("lost-acquire").Acquire(ctx)
	if err != nil {
		t.Fatalf("acquire with a lost response: %v", err)
	}
	if got := e.net.Faults()[httpfault.DropResponse]; got != 1 {
		t.Fatalf("%d responses dropped, want 1", got)
	}
	r := e.record("lost-acquire")
	if r.LeaseID != l.LeaseID() || r.Token != l.FencingToken() || !r.Held(time.Now()) {
		t.Errorf("item %+v is not the returned lease %s with token %d", r, l.LeaseID(), l.FencingToken())
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestLostReleaseResponse: the release reaches DynamoDB, its response is
// lost, and the retry is a success, not an error; the lock is free.
func TestLostReleaseResponse(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := e.client(lock.Config{})
	l, err := c.Lock("lost-release").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.net.Rule = dropFirst("UpdateItem", "ReleasedAt")
	if err := l.Release(ctx); err != nil {
		t.Fatalf("release with a lost response: %v", err)
	}
	if got := e.net.Faults()[httpfault.DropResponse]; got != 1 {
		t.Fatalf("%d responses dropped, want 1", got)
	}
	if _, err := e.otherClient(lock.Config{}).Lock("lost-release").Acquire(ctx); err != nil {
		t.Errorf("lock not free after release: %v", err)
	}
}

// TestLostReleaseThenTakenOver: the release went through, its response was
// lost, another holder took the lock before the retry landed; the retry
// still reports success and does not disturb the new holder.
func TestLostReleaseThenTakenOver(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	l, err := e.client(lock.Config{}).Lock("lost-handoff").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var next *lock.Lease
	dropped := false
	e.net.Rule = func(r httpfault.Request) httpfault.Action {
		if !dropped && strings.Contains(string(r.Body), "ReleasedAt") {
			dropped = true
			return httpfault.Action{Kind: httpfault.DropResponse}
		}
		if dropped && next == nil { // the retry: first let another holder in
			next, err = e.otherClient(lock.Config{}).Lock("lost-handoff").Acquire(ctx)
		}
		return httpfault.Action{}
	}
	if err := l.Release(ctx); err != nil {
		t.Fatalf("release retried after a handoff: %v", err)
	}
	if next == nil || err != nil {
		t.Fatalf("the other holder did not acquire between the attempts: %v", err)
	}
	if r := e.record("lost-handoff"); r.LeaseID != next.LeaseID() || !r.Held(time.Now()) {
		t.Errorf("the new holder's lock was disturbed: %+v", r)
	}
}

// TestAcquireOutcomeUnknown: every attempt's response is lost, so the SDK
// gives up; Acquire reports an acquisition failure (not contention) and
// leaves nothing locked.
func TestAcquireOutcomeUnknown(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.net.Rule = func(r httpfault.Request) httpfault.Action {
		if strings.Contains(string(r.Body), "if_not_exists") {
			return httpfault.Action{Kind: httpfault.DropResponse}
		}
		return httpfault.Action{}
	}
	_, err := e.client(lock.Config{}).Lock("unknown").Acquire(ctx)
	if !errors.Is(err, lock.ErrLockAcquisition) || errors.Is(err, lock.ErrLockAlreadyAcquired) {
		t.Fatalf("acquire with every response lost: %v, want ErrLockAcquisition only", err)
	}
	l, err := e.otherClient(lock.Config{}).Lock("unknown").Acquire(ctx)
	if err != nil {
		t.Fatalf("lock left held after an acquire of unknown outcome: %v", err)
	}
	_ = l.Release(ctx)
}

// TestOutages: failures other than contention match ErrLockAcquisition or
// ErrLockRelease, not ErrLockAlreadyAcquired, and wrap the SDK's error.
func TestOutages(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)

	t.Run("missing table", func(t *testing.T) {
		c, err := lock.NewClient(ctx, lock.Config{TableName: "no-such-table", DynamoDB: srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Lock("x").Acquire(ctx)
		var notFound *dtypes.ResourceNotFoundException
		if !errors.Is(err, lock.ErrLockAcquisition) || errors.Is(err, lock.ErrLockAlreadyAcquired) || !errors.As(err, &notFound) {
			t.Errorf("got %v, want ErrLockAcquisition wrapping ResourceNotFoundException", err)
		}
	})
	t.Run("throttled", func(t *testing.T) {
		e.net.Rule = func(httpfault.Request) httpfault.Action { return httpfault.Action{Kind: httpfault.Throttle} }
		defer func() { e.net.Rule = nil }()
		c, err := lock.NewClient(ctx, shape.Apply(lock.Config{TableName: e.table, DynamoDB: e.oneAttempt()}))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Lock("x").Acquire(ctx)
		if !errors.Is(err, lock.ErrLockAcquisition) || errors.Is(err, lock.ErrLockAlreadyAcquired) || !strings.Contains(err.Error(), "Throttling") {
			t.Errorf("got %v, want ErrLockAcquisition wrapping ThrottlingException", err)
		}
	})
	t.Run("release during an outage", func(t *testing.T) {
		c, err := lock.NewClient(ctx, shape.Apply(lock.Config{TableName: e.table, DynamoDB: e.oneAttempt()}))
		if err != nil {
			t.Fatal(err)
		}
		l, err := c.Lock("y").Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		e.net.Rule = func(httpfault.Request) httpfault.Action { return httpfault.Action{Kind: httpfault.ServerError} }
		err = l.Release(ctx)
		e.net.Rule = nil
		if !errors.Is(err, lock.ErrLockRelease) || errors.Is(err, lock.ErrLockLost) {
			t.Errorf("got %v, want ErrLockRelease only", err)
		}
		if err := l.Release(ctx); err != nil {
			t.Errorf("release once the outage ended: %v", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		db := dynamoAt("http://127.0.0.1:1")
		c, err := lock.NewClient(ctx, shape.Apply(lock.Config{TableName: e.table, DynamoDB: db}))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Lock("x").Acquire(ctx)
		if !errors.Is(err, lock.ErrLockAcquisition) || errors.Is(err, lock.ErrLockAlreadyAcquired) {
			t.Errorf("got %v, want ErrLockAcquisition", err)
		}
	})
}

// TestBadInput: bad arguments fail with ErrInvalidInput before any request.
func TestBadInput(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := e.client(lock.Config{})
	noop := func(context.Context) error { return nil }
	held, err := c.Lock("held").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release(ctx)
	newClient := func(cfg lock.Config) error {
		cfg.DynamoDB = e.db
		_, err := lock.NewClient(ctx, cfg)
		return err
	}
	tests := []struct {
		name string
		call func() error
	}{
		{"empty lock ID", func() error { _, err := c.Lock("").Acquire(ctx); return err }},
		{"lock ID over 2048 bytes", func() error { _, err := c.Lock(strings.Repeat("x", 2049)).Acquire(ctx); return err }},
		{"one of several lock IDs empty", func() error { _, err := c.Lock("id", "").Acquire(ctx); return err }},
		{"negative TTL", func() error { return newClient(lock.Config{TableName: e.table, TTL: -time.Second}) }},
		{"negative TTL of a call", func() error { return c.Lock("id").Do(ctx, noop, lockopt.TTL(-time.Second)) }},
		{"TTL not above the tolerance", func() error {
			return newClient(lock.Config{TableName: e.table, TTL: 10 * time.Millisecond, ClockSkewTolerance: testSkew})
		}},
		{"TTL of a call not above the tolerance", func() error { return c.Lock("id").Do(ctx, noop, lockopt.TTL(10*time.Millisecond)) }},
		{"TTL just above the default tolerance", func() error {
			err := newClient(lock.Config{TableName: e.table, TTL: 1001 * time.Millisecond})
			if err != nil && !strings.Contains(err.Error(), "Config.ClockSkewTolerance") {
				t.Errorf("%v does not name the setting that fixes it", err)
			}
			return err
		}},
		{"extend TTL under twice the tolerance", func() error { return held.Extend(ctx, 30*time.Millisecond) }},
		{"negative wait", func() error { return c.Lock("id").Do(ctx, noop, lock.WithWait(-1)) }},
		{"heartbeat as long as the TTL", func() error {
			return newClient(lock.Config{TableName: e.table, TTL: time.Second, Heartbeat: time.Second, ClockSkewTolerance: testSkew})
		}},
		{"heartbeat under the minimum", func() error {
			return newClient(lock.Config{TableName: e.table, Heartbeat: time.Nanosecond})
		}},
		{"nil fn", func() error { return c.Lock("id").Do(ctx, nil) }},
		{"no IDs", func() error { _, err := c.Lock().Acquire(ctx); return err }},
		{"empty table name", func() error { return newClient(lock.Config{}) }},
		{"lock ID given to NewClient", func() error { return newClient(lock.Config{TableName: e.table, LockID: "id"}) }},
		{"Config without table", func() error {
			_, err := lock.New(ctx, lock.Config{LockID: "id"})
			return err
		}},
		{"Config without lock ID", func() error {
			_, err := lock.New(ctx, lock.Config{TableName: "t"})
			return err
		}},
		{"Config with negative TTL", func() error {
			_, err := lock.New(ctx, lock.Config{TableName: "t", LockID: "id", TTL: -time.Second})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.net.Reset()
			err := tt.call()
			if !errors.Is(err, lock.ErrInvalidInput) {
				t.Errorf("got %v, want ErrInvalidInput", err)
			}
			if n := e.net.Total(); n != 0 {
				t.Errorf("%d requests sent for bad input", n)
			}
		})
	}
	maxLockIDBytes := 2048 - len(shape.Table.PartitionKeyPrefix) // DynamoDB's key limit, less the prefix
	if _, err := c.Lock(strings.Repeat("x", maxLockIDBytes)).Acquire(ctx); err != nil {
		t.Errorf("a lock ID of exactly %d bytes: %v", maxLockIDBytes, err)
	}
	if _, err := c.Lock(strings.Repeat("x", maxLockIDBytes+1)).Acquire(ctx); !errors.Is(err, lock.ErrInvalidInput) {
		t.Errorf("a lock ID of %d bytes: %v, want ErrInvalidInput", maxLockIDBytes+1, err)
	}
}

func dynamoAt(endpoint string) *dynamodb.Client {
	return srv.Client(func(o *dynamodb.Options) {
		o.BaseEndpoint = &endpoint
		o.RetryMaxAttempts = 1
	})
}

// oneAttempt returns a client on e's counted connection without SDK
// retries, so that faults reach the lock at once.
func (e *env) oneAttempt() *dynamodb.Client {
	return srv.Client(func(o *dynamodb.Options) {
		o.HTTPClient = e.net
		o.RetryMaxAttempts = 1
	})
}

// TestLateAcquireAnswer: an acquire whose answer arrives after the lease's
// deadline hands out no lease (it could not be used safely) and leaves the
// lock free.
func TestLateAcquireAnswer(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const ttl = 200 * time.Millisecond
	e.net.Rule = func(r httpfault.Request) httpfault.Action {
		if strings.Contains(string(r.Body), "if_not_exists") {
			return httpfault.Action{Delay: ttl}
		}
		return httpfault.Action{}
	}
	_, err := e.client(lock.Config{TTL: ttl}).Lock("late").Acquire(ctx)
	if !errors.Is(err, lock.ErrLockAcquisition) || errors.Is(err, lock.ErrLockAlreadyAcquired) {
		t.Fatalf("acquire answered past its deadline: %v, want ErrLockAcquisition", err)
	}
	if r := e.record("late"); r.LeaseID != "" && !r.Released {
		t.Errorf("lock left unreleased: %+v", r)
	}
}

// TestHeldErrorSaysWhenItWasJudged: a HeldError's At is the time the
// acquire judged the lock against, carried in its request, not the time its
// answer came: an answer delayed in the network (or by the SDK's retries)
// still says the lock was held then, and its holder's lease had not ended
// more than the tolerance before At. Waits and retry-after hints count from
// it.
func TestHeldErrorSaysWhenItWasJudged(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const delay, tol = 400 * time.Millisecond, 50 * time.Millisecond
	if _, err := e.client(lock.Config{TTL: time.Minute, Owner: "holder"}).Lock("judged").Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	var sent time.Time
	e.net.Rule = func(r httpfault.Request) httpfault.Action {
		if r.Op == "UpdateItem" && sent.IsZero() {
			sent = time.Now()
			return httpfault.Action{Delay: delay}
		}
		return httpfault.Action{}
	}
	started := time.Now()
	_, err := e.client(lock.Config{ClockSkewTolerance: tol}).Lock("judged").Acquire(ctx)
	answered := time.Now()
	var held *lock.HeldError
	if !errors.As(err, &held) {
		t.Fatalf("acquire of a held lock: %v, want a HeldError", err)
	}
	if answered.Sub(started) < delay {
		t.Fatalf("answer came %s after the call, want at least the %s delay", answered.Sub(started), delay)
	}
	if held.At.Before(started) || held.At.After(sent) {
		t.Errorf("At = %s, want between the call (%s) and the request's send (%s), not the answer (%s)",
			held.At.Format(time.StampMicro), started.Format(time.StampMicro), sent.Format(time.StampMicro), answered.Format(time.StampMicro))
	}
	if late := held.At.Sub(held.Holder.ExpiresAt); late > tol {
		t.Errorf("held at %s, %s after its holder's lease ended: more than the %s tolerance", held.At, late, tol)
	}
}
