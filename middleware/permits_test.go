package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// tenantJob is an event of a per-tenant job.
type tenantJob struct {
	Tenant string `json:"tenant"`
	ID     string `json:"id"`
}

// gate holds handlers inside until it opens, counting them.
type gate struct {
	inside, peak atomic.Int32
	entered      chan struct{}
	open         chan struct{}
}

func newGate() *gate { return &gate{entered: make(chan struct{}, 64), open: make(chan struct{})} }

// enter counts a handler in, waits for the gate and counts it out.
func (g *gate) enter(ctx context.Context) error {
	n := g.inside.Add(1)
	defer g.inside.Add(-1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	g.entered <- struct{}{}
	select {
	case <-g.open:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// waitInside waits until n handlers entered.
func (g *gate) waitInside(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-g.entered:
		case <-time.After(30 * time.Second):
			t.Fatalf("fewer than %d handlers entered", n)
		}
	}
}

// With WithPermits(2), two invocations for one tenant run at once and the
// third meets the held policy; another tenant is not limited by them.
func TestPermitsPerTenant(t *testing.T) {
	for _, tc := range []struct {
		policy middleware.HeldPolicy
		check  func(t *testing.T, out string, err error)
	}{
		{middleware.Fail, func(t *testing.T, out string, err error) {
			var held *lock.HeldError
			if !errors.As(err, &held) || held.Permits != 2 {
				t.Errorf("third invocation: %v, want a *HeldError of 2 permits", err)
			}
		}},
		{middleware.Skip, func(t *testing.T, out string, err error) {
			if err != nil || out != "" {
				t.Errorf("third invocation: %q, %v; want skipped", out, err)
			}
		}},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			e := newEnv(t)
			g := newGate()
			h := must(middleware.Wrap(e.c, middleware.JMESPath[tenantJob]("tenant"),
				func(ctx context.Context, j tenantJob) (string, error) {
					if l, ok := lock.FromContext(ctx); !ok || l.FencingToken() == 0 {
						return "", errors.New("no lease with a token")
					}
					if j.Tenant == "t1" {
						return j.ID, g.enter(ctx)
					}
					return j.ID, nil
				}, e.opts(middleware.WithPermits(2), middleware.WithOnHeld(tc.policy))...))(t)
			var wg sync.WaitGroup
			for i := range 2 {
				wg.Go(func() {
					ctx, _ := lambdaCtx(t, fmt.Sprint("req-", i), 30*time.Second)
					if _, err := h(ctx, tenantJob{Tenant: "t1", ID: fmt.Sprint(i)}); err != nil {
						t.Errorf("invocation %d: %v", i, err)
					}
				})
			}
			g.waitInside(t, 2)
			ctx, _ := lambdaCtx(t, "req-3", 30*time.Second)
			out, err := h(ctx, tenantJob{Tenant: "t1", ID: "3"})
			tc.check(t, out, err)
			if out, err := h(ctx, tenantJob{Tenant: "t2", ID: "4"}); err != nil || out != "4" {
				t.Errorf("another tenant: %q, %v", out, err)
			}
			close(g.open)
			wg.Wait()
			if p := g.peak.Load(); p != 2 {
				t.Errorf("%d handlers of t1 at once, want 2", p)
			}
		})
	}
}

// Under Wait, many invocations for one tenant all run, never more than
// the permits at once.
func TestPermitsWait(t *testing.T) {
	e := newEnv(t)
	var inside, peak atomic.Int32
	h := must(middleware.Wrap(e.c, middleware.JMESPath[tenantJob]("tenant"),
		func(ctx context.Context, j tenantJob) (string, error) {
			n := inside.Add(1)
			defer inside.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(20 * time.Millisecond)
			return j.ID, nil
		}, e.opts(middleware.WithPermits(3), middleware.WithOnHeld(middleware.Wait))...))(t)
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			ctx, _ := lambdaCtx(t, fmt.Sprint("req-", i), 60*time.Second)
			if out, err := h(ctx, tenantJob{Tenant: "t1", ID: fmt.Sprint(i)}); err != nil || out != fmt.Sprint(i) {
				t.Errorf("invocation %d: %q, %v", i, out, err)
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p > 3 {
		t.Errorf("%d handlers at once, more than 3 permits", p)
	}
	t.Logf("at most %d handlers at once (3 permits)", peak.Load())
}

// WrapHTTP answers a request whose key's permits are all taken with 429
// Too Many Requests and Retry-After.
func TestPermitsHTTP(t *testing.T) {
	e := newEnv(t)
	g := newGate()
	api := middleware.HTTPAPI()
	h := must(middleware.WrapHTTP(e.c, api, api.PathParameter("id"),
		func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			return events.APIGatewayV2HTTPResponse{StatusCode: 201}, g.enter(ctx)
		}, e.opts(middleware.WithPermits(2))...))(t)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			ctx, _ := lambdaCtx(t, fmt.Sprint("req-", i), 30*time.Second)
			if resp, err := h(ctx, transferRequest(t, "42")); err != nil || resp.StatusCode != 201 {
				t.Errorf("request %d: %d, %v", i, resp.StatusCode, err)
			}
		})
	}
	g.waitInside(t, 2)
	ctx, _ := lambdaCtx(t, "req-3", 30*time.Second)
	resp, err := h(ctx, transferRequest(t, "42"))
	close(g.open)
	wg.Wait()
	if err != nil || resp.StatusCode != 429 {
		t.Fatalf("third request: %d, %v; want 429", resp.StatusCode, err)
	}
	if p := decodeProblem(t, resp); p.Type != "https://github.com/dynalock/dynalock#problem-limit-reached" {
		t.Errorf("problem type %q", p.Type)
	}
	if ra := resp.Headers["Retry-After"]; ra == "" || ra == "0" {
		t.Errorf("Retry-After %q, want the seconds until the first permit's lease ends", ra)
	}
}

// WrapSQS reports the record whose key's permits are all taken as a batch
// item failure, and runs the others.
func TestPermitsSQS(t *testing.T) {
	e := newEnv(t)
	g := newGate()
	h := must(middleware.WrapSQS(e.c, middleware.SQSBody("tenant"),
		func(ctx context.Context, m events.SQSMessage) error {
			if m.MessageId == "free" {
				return nil
			}
			return g.enter(ctx)
		}, e.opts(middleware.WithPermits(2))...))(t)
	record := func(id, tenant string) events.SQSMessage {
		return events.SQSMessage{MessageId: id, Body: fmt.Sprintf(`{"tenant":%q}`, tenant), EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:jobs"}
	}
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			ctx, _ := lambdaCtx(t, fmt.Sprint("req-", i), 30*time.Second)
			resp, err := h(ctx, events.SQSEvent{Records: []events.SQSMessage{record(fmt.Sprint("m", i), "t1")}})
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Errorf("batch %d: %v, %v", i, failures(resp), err)
			}
		})
	}
	g.waitInside(t, 2)
	ctx, _ := lambdaCtx(t, "req-3", 30*time.Second)
	resp, err := h(ctx, events.SQSEvent{Records: []events.SQSMessage{record("m3", "t1"), record("free", "t2")}})
	close(g.open)
	wg.Wait()
	if got := failures(resp); err != nil || len(got) != 1 || got[0] != "m3" {
		t.Errorf("third batch: failures %v, %v; want [m3]", got, err)
	}
}

// WithPermits outside 1..100 is refused when the wrapper is built.
func TestPermitsRefused(t *testing.T) {
	e := newEnv(t)
	for _, n := range []int{0, -2, 101} {
		_, err := middleware.Wrap(e.c, middleware.JMESPath[tenantJob]("tenant"),
			func(ctx context.Context, j tenantJob) (string, error) { return "", nil }, e.opts(middleware.WithPermits(n))...)
		if !errors.Is(err, lock.ErrInvalidInput) {
			t.Errorf("WithPermits(%d): %v, want ErrInvalidInput", n, err)
		}
	}
}
