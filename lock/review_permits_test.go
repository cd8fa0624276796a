package lock_test

// Hostile review of N permits per lock ID (issue 23): sequences that break
// the promises of docs/GUARANTEES.md, "Permits: at most N holders".

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/lock"
)

// overtaken is a network in which the first request whose body holds
// marker is stuck: the caller sees a connection reset at once (the SDK
// retries, and its retry overtakes the stuck request), and the stuck
// request reaches DynamoDB only when Land is called. httpfault.LandLate
// answers its caller only after the request landed, so a retry never
// overtakes it there; this is the same fault with the order reversed.
type overtaken struct {
	next   httpfault.HTTPClient
	marker string

	mu     sync.Mutex
	held   bool
	gate   chan struct{}
	landed chan error
}

func newOvertaken(next httpfault.HTTPClient, marker string) *overtaken {
	return &overtaken{next: next, marker: marker, gate: make(chan struct{}), landed: make(chan error, 1)}
}

func (o *overtaken) Do(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	o.mu.Lock()
	hold := !o.held && strings.Contains(string(body), o.marker)
	o.held = o.held || hold
	o.mu.Unlock()
	if !hold {
		return o.next.Do(req)
	}
	stuck := req.Clone(context.WithoutCancel(req.Context()))
	stuck.Body = io.NopCloser(bytes.NewReader(body))
	go func() {
		<-o.gate
		resp, err := o.next.Do(stuck)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		o.landed <- err
	}()
	return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
}

// Land lets the stuck request reach DynamoDB and waits until it has.
func (o *overtaken) Land(t *testing.T) {
	t.Helper()
	o.mu.Lock()
	held := o.held
	o.mu.Unlock()
	if !held {
		t.Fatal("no request was held back")
	}
	close(o.gate)
	if err := <-o.landed; err != nil {
		t.Fatalf("the stuck request: %v", err)
	}
}

// TestReviewPermitsLateAcquireRevivesTakenOverPermit: holder L's acquire
// request is stuck in the network; the SDK's retry overtakes it and L gets
// its permit. L stalls past its lease; M takes L's permit over (removing
// L's entry); K releases, so a permit is free. Then L's stuck request
// lands: its condition (no entry of its own, fewer than n entries) holds
// again, and it writes L's entry back, under L's lease ID, with a new
// token. Promise 3 (permits) says a holder whose permit lapsed and was
// taken over gets ErrLockLost from Extend; promise 2 says Lease.Write
// checks the holder's own permit. Observed: L's Extend succeeds, L's lease
// runs on, and L's Write (token below M's) lands after M's.
func TestReviewPermitsLateAcquireRevivesTakenOverPermit(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const ttl = time.Second
	k, err := e.otherClient(lock.Config{TTL: 10 * time.Second, Owner: "K"}).Lock("sem").Acquire(ctx, lock.WithPermits(2))
	if err != nil {
		t.Fatal(err)
	}
	nw := newOvertaken(e.net, "PermitTokens")
	db := srv.Client(func(o *dynamodb.Options) { o.HTTPClient = nw })
	l, err := e.clientOn(db, lock.Config{TTL: ttl, Owner: "L"}).Lock("sem").Acquire(ctx, lock.WithPermits(2))
	if err != nil {
		t.Fatalf("L: %v", err)
	}
	time.Sleep(ttl + testSkew + 100*time.Millisecond) // L stalls: its permit lapses
	mc := e.otherClient(lock.Config{TTL: 10 * time.Second, Owner: "M"})
	m, err := mc.Lock("sem").Acquire(ctx, lock.WithPermits(2))
	if err != nil {
		t.Fatalf("M, taking over L's lapsed permit: %v", err)
	}
	if m.FencingToken() <= l.FencingToken() {
		t.Fatalf("M's token %d not above L's %d", m.FencingToken(), l.FencingToken())
	}
	if err := m.Write(ctx, putItem(e, "rv-w", "M")); err != nil {
		t.Fatalf("M's write: %v", err)
	}
	if err := k.Release(ctx); err != nil {
		t.Fatal(err)
	}
	nw.Land(t) // L's first acquire request, overtaken by its retry, lands now
	t.Logf("L token %d, M token %d", l.FencingToken(), m.FencingToken())

	if err := l.Extend(ctx, 10*time.Second); !errors.Is(err, lock.ErrLockLost) {
		t.Errorf("L's Extend after M took its permit over: %v, want ErrLockLost (promise 3)", err)
	}
	if err := l.Write(ctx, putItem(e, "rv-w", "L")); !errors.Is(err, lock.ErrLockLost) {
		t.Errorf("L's Write after M took its permit over: %v, want ErrLockLost", err)
	}
	if got := readItem(t, e, "rv-w"); got != "M" {
		t.Errorf("the taken-over holder's write overwrote its successor's: item %q, want %q (L's token %d < M's %d)",
			got, "M", l.FencingToken(), m.FencingToken())
	}
}

// TestReviewPermitsFullItemOfDeadHoldersFrees: every holder's entry lives
// in the ID's one item, and metadata has no size bound. Holders of an ID
// of 100 permits, each with 5 KB of metadata, filled the item up to
// DynamoDB's 400 KB before the 100 permits were taken: the 80th acquire,
// 21 permits free, failed as an outage (DynamoDB's size
// ValidationException), against promise 6 (held told apart from outage);
// and once every holder was dead, a newcomer like them failed the same
// way on its first request, never reaching the takeover of lapsed
// entries (promise 4), so the ID stayed unusable until DynamoDB's TTL
// deleted the item, a day later.
//
// Fixed: a count whose entries cannot all fit is refused up front
// (ErrInvalidInput, no request sent, naming how many fit); a count that
// fits fills, the next acquire is held, and once the holders are dead
// (their leases over by the newcomer's clock) a newcomer gets a permit.
// Holders with larger entries than the newcomer's:
// TestPermitsItemFullOfOthersEntries.
func TestReviewPermitsFullItemOfDeadHoldersFrees(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	meta := map[string]string{"job": strings.Repeat("x", 5000)}
	c := e.client(lock.Config{TTL: time.Minute, Metadata: meta})
	e.net.Reset()
	if _, err := c.Lock("big").Acquire(ctx, lock.WithPermits(100)); !errors.Is(err, lock.ErrInvalidInput) || e.net.Total() != 0 {
		t.Fatalf("100 permits of 5 KB metadata each: %v after %d requests, want ErrInvalidInput before any request", err, e.net.Total())
	}
	const n = 70 // 70 entries of 5 KB fit
	for i := range n {
		if _, err := c.Lock("big").Acquire(ctx, lock.WithPermits(n)); err != nil {
			t.Fatalf("acquire %d of %d: %v", i+1, n, err)
		}
	}
	if _, err := c.Lock("big").Acquire(ctx, lock.WithPermits(n)); !errors.Is(err, lock.ErrLockAlreadyAcquired) {
		t.Errorf("acquire %d with all %d taken: %v, want a *HeldError (promise 6: held told apart from outage)", n+1, n, err)
	}
	// Every holder is dead, its lease over by the newcomer's clock.
	l, err := e.otherClient(lock.Config{Metadata: meta, Now: later}).Lock("big").Acquire(ctx, lock.WithPermits(n))
	if err != nil {
		t.Fatalf("after every holder's lease ended: %v, want a permit (promise 4: a dead holder's permit frees itself)", err)
	}
	_ = l.Release(ctx)
}
