package lock_test

import (
	"context"
	"errors"
	"maps"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/dynalock/dynalock/internal/lockopt"
	"github.com/dynalock/dynalock/lock"
)

// TestItemForOperators: the item tells operators who holds the lock, since
// when, from which host and Lambda request, with the holder's metadata;
// after release it says so, and the TTL clean-up comes after the retention.
func TestItemForOperators(t *testing.T) {
	e := newEnv(t)
	c := e.client(lock.Config{Owner: "billing-worker", Metadata: map[string]string{"order": "42"}})
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-123"})
	before := time.Now().Truncate(time.Millisecond)
	l, err := c.Lock("inspected").Acquire(ctx, lockopt.Retention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	r := e.record("inspected")
	host, _ := os.Hostname()
	want := lock.Holder{Owner: "billing-worker", LeaseID: l.LeaseID(), Host: host, RequestID: "req-123", Token: l.FencingToken()}
	got := r.Holder
	got.AcquiredAt, got.ExpiresAt = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("holder %+v, want %+v", got, want)
	}
	if r.AcquiredAt.Before(before) || r.ExpiresAt.Sub(r.AcquiredAt) < lock.DefaultTTL {
		t.Errorf("acquired at %s, expires at %s: want now and a TTL later", r.AcquiredAt, r.ExpiresAt)
	}
	if r.Metadata["order"] != "42" || !r.Held(time.Now()) || r.Released {
		t.Errorf("record %+v: want metadata and held", r)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	r = e.record("inspected")
	if !r.Released || r.Held(time.Now()) || r.ReleasedAt.IsZero() || r.Forced {
		t.Errorf("after release: %+v", r)
	}
	if d := time.Until(r.CleanupAt); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("clean-up TTL in %s, want the retention (1 h)", d)
	}

	// The next holder without metadata or request ID leaves none of the
	// previous holder's behind.
	l2, err := e.client(lock.Config{}).Lock("inspected").Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r = e.record("inspected")
	if r.RequestID != "" || r.Metadata != nil || r.Released || r.LeaseID != l2.LeaseID() {
		t.Errorf("next holder's record carries stale fields: %+v", r)
	}
}

// TestHeldErrorCarriesMetadata: a refused acquire (or claim) names the
// holder's metadata, from the same answer; a per-call entry
// (lockopt.MetadataEntry, as the middleware tags its entity locks) adds to
// the client's metadata.
func TestHeldErrorCarriesMetadata(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	holder := e.client(lock.Config{Metadata: map[string]string{"order": "42"}})
	if _, err := holder.Lock("tagged").Acquire(ctx, lockopt.MetadataEntry("event", "evt-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Claim(ctx, "tagged-claim", nil, lockopt.MetadataEntry("event", "evt-2")); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]map[string]string{
		"tagged":       {"order": "42", "event": "evt-1"},
		"tagged-claim": {"order": "42", "event": "evt-2"},
	} {
		if got := e.record(id).Metadata; !maps.Equal(got, want) {
			t.Errorf("%s: stored metadata %v, want %v", id, got, want)
		}
		var err error
		if id == "tagged" {
			_, err = e.client(lock.Config{}).Lock(id).Acquire(ctx)
		} else {
			_, err = e.client(lock.Config{}).Claim(ctx, id, nil)
		}
		var held *lock.HeldError
		if !errors.As(err, &held) || !maps.Equal(held.Metadata, want) {
			t.Errorf("%s: %v, want a HeldError with metadata %v", id, err, want)
		}
	}
	if got := holder.Config().Metadata; !maps.Equal(got, map[string]string{"order": "42"}) {
		t.Errorf("a per-call entry changed the client's metadata: %v", got)
	}
	if _, err := e.client(lock.Config{}).Lock("bad").Acquire(ctx, lockopt.MetadataEntry("", "x")); !errors.Is(err, lock.ErrInvalidInput) {
		t.Errorf("empty metadata key: %v, want ErrInvalidInput", err)
	}
}
