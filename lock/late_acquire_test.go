package lock_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/lock"
)

// ghostNet plays a network that keeps one copy of a request: the first
// request carrying marker is applied and its answer lost; the second is
// failed at once (a connection reset, which the SDK retries) while a copy
// of it is held until release is closed and then sent. Other requests pass.
type ghostNet struct {
	next interface {
		Do(*http.Request) (*http.Response, error)
	}
	marker  string
	release chan struct{}

	mu     sync.Mutex
	n      int
	landed sync.WaitGroup
}

func (g *ghostNet) Do(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		body = b
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	if !strings.Contains(string(body), g.marker) {
		return g.next.Do(req)
	}
	g.mu.Lock()
	g.n++
	n := g.n
	g.mu.Unlock()
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	switch n {
	case 1: // applied, answer lost
		if resp, err := g.next.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return nil, reset
	case 2: // a copy held in the network lands later
		late := req.Clone(context.WithoutCancel(req.Context()))
		late.Body = io.NopCloser(bytes.NewReader(body))
		g.landed.Add(1)
		go func() {
			defer g.landed.Done()
			<-g.release
			if resp, err := g.next.Do(late); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
		return nil, reset
	}
	return g.next.Do(req)
}

// TestLateDuplicateAcquire: a copy of an acquire's request that lands
// after the holder extended (its first attempt applied with the answer
// lost, the copy held in the network while the SDK's third attempt went
// through) does not pass as "this very lease's retry": it would move the
// stored end back under the holder's Deadline (another holder could enter
// by the wall-clock rule before it), put back the lease version L.0 that
// a waiter may have seen before (the observed-lease rule's ABA), and raise
// the token past the holder's. The acquire's retry branch requires that
// no extend of the lease landed (LeaseSeq still 0).
func TestLateDuplicateAcquire(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const id = "late-duplicate-acquire"
	g := &ghostNet{next: awshttp.NewBuildableClient(), marker: reviewAcquireMarker, release: make(chan struct{})}
	send := sync.OnceFunc(func() { close(g.release) })
	defer g.landed.Wait()
	defer send()
	hdb := srv.Client(func(o *dynamodb.Options) {
		o.HTTPClient = g
		o.Retryer = retry.AddWithMaxBackoffDelay(retry.NewStandard(), 20*time.Millisecond)
	})
	holder := e.clientOn(hdb, lock.Config{TTL: 5 * time.Second})
	l, err := holder.Lock(id).Acquire(ctx)
	if err != nil {
		t.Fatalf("acquire (its third attempt should find its own lease): %v", err)
	}
	defer l.Release(ctx)
	if err := l.Extend(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	before := e.record(id)
	ver := e.reviewVersion(id)
	send() // the held copy goes out
	g.landed.Wait()
	after := e.record(id)
	if got := e.reviewVersion(id); got != ver {
		t.Errorf("the late acquire moved the lease version from %s to %s", ver, got)
	}
	if after.ExpiresAt.Before(before.ExpiresAt) {
		t.Errorf("the late acquire moved the stored end from %s back to %s, before the holder's Deadline %s",
			before.ExpiresAt.Format(time.RFC3339Nano), after.ExpiresAt.Format(time.RFC3339Nano), l.Deadline().Format(time.RFC3339Nano))
	}
	if after.Token != l.FencingToken() {
		t.Errorf("the late acquire moved the stored token from the holder's %d to %d", l.FencingToken(), after.Token)
	}
}
