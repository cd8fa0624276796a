package once

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/internal/appdata"
	"github.com/dynalock/dynalock/internal/dynamotest"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// WorkerMain is a worker process: it reads deliveries on standard input,
// handles each at once through the middleware, and writes their answers
// on standard output. It returns the exit code.
func WorkerMain() int {
	var cfg workerConfig
	if err := json.Unmarshal([]byte(os.Getenv(EnvWorker)), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "once worker:", err)
		return 2
	}
	w := newWorker(cfg, os.Stdout)
	sc := bufio.NewScanner(os.Stdin)
	var wg sync.WaitGroup
	for sc.Scan() {
		var d delivery
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			fmt.Fprintln(os.Stderr, "once worker:", err)
			return 2
		}
		wg.Go(func() { w.deliver(d) })
	}
	wg.Wait()
	return 0
}

// worker runs the middleware over a faulty connection.
type worker struct {
	cfg     workerConfig
	net     *httpfault.Client
	db      *dynamodb.Client
	handler func(context.Context, Event) (Output, error)
	mu      sync.Mutex // serialises writes to out
	out     io.Writer
}

func newWorker(cfg workerConfig, out io.Writer) *worker {
	w := &worker{cfg: cfg, out: out}
	w.net = &httpfault.Client{Next: counting{awshttp.NewBuildableClient()}, Rule: w.rule}
	w.db = dynamotest.NewClient(cfg.Endpoint, func(o *dynamodb.Options) {
		o.HTTPClient = w.net
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts, so.MaxBackoff, so.RateLimiter = 4, 50*time.Millisecond, ratelimit.None
		})
	})
	locks, err := lock.NewClient(w.db, cfg.LockTable, lock.WithClockSkewTolerance(cfg.Tolerance),
		lock.WithOwner(fmt.Sprintf("once-worker-%d", cfg.ID)))
	if err != nil {
		panic(err) // the driver's settings are valid
	}
	policy := middleware.Fail
	if cfg.Wait {
		policy = middleware.Wait
	}
	byAccount, _ := middleware.JMESPath[Event]("account")
	byID, _ := middleware.JMESPath[Event]("id")
	w.handler = middleware.Wrap(locks, byAccount, w.handle,
		middleware.WithNamespace("once"), middleware.OnHeld(policy),
		middleware.WithReserve(cfg.Reserve), middleware.WithGrace(cfg.Grace),
		middleware.WithLogger(slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))),
		middleware.WithIdempotency(byID, middleware.ValidatePayload("[account, amount]")))
	return w
}

// rule decides each HTTP request's fate: a fault, a delay, or a late
// landing for writes.
func (w *worker) rule(r httpfault.Request) httpfault.Action {
	c := w.cfg
	var a httpfault.Action
	write := r.Op == "UpdateItem" || r.Op == "TransactWriteItems"
	switch {
	case write && mrand.Float64() < c.LateRate:
		a.Kind, a.Delay = httpfault.LandLate, 1+mrand.N(c.LateMax)
	case mrand.Float64() < c.FaultRate:
		kinds := []httpfault.Kind{httpfault.DropResponse, httpfault.ResetBeforeSend, httpfault.ServerError, httpfault.Throttle}
		a.Kind = kinds[mrand.N(len(kinds))]
	}
	if a.Kind != httpfault.LandLate && c.MaxDelay > 0 && mrand.Float64() < c.DelayRate {
		a.Delay = 1 + mrand.N(c.MaxDelay)
	}
	return a
}

type deliveryKey struct{}

// inFlight is what the handler knows of its delivery.
type inFlight struct {
	d        delivery
	ran      bool
	requests *requestCount
}

// deliver runs one delivery as the Lambda runtime would, and answers it.
func (w *worker) deliver(d delivery) {
	f := &inFlight{d: d, requests: &requestCount{n: map[string]int{}}}
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: fmt.Sprintf("w%d-d%d", w.cfg.ID, d.N)})
	ctx = context.WithValue(ctx, deliveryKey{}, f)
	ctx = context.WithValue(ctx, countKey{}, f.requests)
	ctx, cancel := context.WithTimeout(ctx, d.Timeout)
	out, err := w.handler(ctx, d.Event)
	cancel()
	a := answer{N: d.N, Ran: f.ran, Out: out, Requests: f.requests.snapshot(), Faults: map[string]int{}}
	if err != nil {
		a.Err, a.NoResult = err.Error(), errors.Is(err, middleware.ErrNoResult)
		if held := (*lock.HeldError)(nil); errors.As(err, &held) {
			a.Held, a.HeldUntil, a.HeldAt = held.LockID, held.Holder.ExpiresAt, held.At
		}
	}
	for k, n := range w.net.Faults() {
		a.Faults[k.String()] = n
	}
	w.send(a)
}

func (w *worker) send(v any) {
	b, _ := json.Marshal(v)
	w.mu.Lock()
	defer w.mu.Unlock()
	_, _ = w.out.Write(append(b, '\n'))
}

// handle is the idempotent handler: it reads the account's balance, then
// credits it and records the event's effect in one lease-checked
// transaction that also completes the event and stores its output.
func (w *worker) handle(ctx context.Context, ev Event) (Output, error) {
	f, _ := ctx.Value(deliveryKey{}).(*inFlight)
	f.ran = true
	d, _, err := appdata.Read(ctx, w.db, w.cfg.AppTable, accountID(ev.Account))
	if err != nil {
		return Output{}, err
	}
	balance := d.Int("Balance")
	time.Sleep(time.Duration(mrand.N(20)) * time.Millisecond)
	if f.d.Kill == killBefore {
		w.die(f.d)
	}
	out := Output{Event: ev.ID, Nonce: rand.Text()}
	err = middleware.WriteResult(ctx, out,
		types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(w.cfg.AppTable),
			Key:                       appdata.Key(effectID(ev.ID)),
			UpdateExpression:          aws.String("ADD #c :one SET #nonce = :nonce"),
			ExpressionAttributeNames:  map[string]string{"#c": "Count", "#nonce": "Nonce"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": appdata.N(1), ":nonce": appdata.S(out.Nonce)},
		}},
		types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(w.cfg.AppTable),
			Key:                       appdata.Key(accountID(ev.Account)),
			UpdateExpression:          aws.String("SET #b = :b"),
			ExpressionAttributeNames:  map[string]string{"#b": "Balance"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":b": appdata.N(balance + ev.Amount)},
		}})
	if err != nil {
		return Output{}, err
	}
	if f.d.Kill == killAfter {
		w.die(f.d)
	}
	return out, nil
}

// die asks the driver for a SIGKILL and waits for it.
func (w *worker) die(d delivery) {
	w.mu.Lock()
	fmt.Fprintf(w.out, "%s%d\n", killLine, d.N)
	w.mu.Unlock()
	time.Sleep(time.Hour)
}

// countKey finds a delivery's request counter in a request's context: the
// middleware's requests carry the handler's context, or one made from it.
type countKey struct{}

type requestCount struct {
	mu sync.Mutex // protects n
	n  map[string]int
}

func (c *requestCount) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

// counting counts each HTTP request (each attempt) against its delivery.
type counting struct{ next httpfault.HTTPClient }

func (c counting) Do(req *http.Request) (*http.Response, error) {
	if rc, ok := req.Context().Value(countKey{}).(*requestCount); ok {
		op := req.Header.Get("X-Amz-Target")
		op = op[strings.LastIndexByte(op, '.')+1:]
		rc.mu.Lock()
		rc.n[op]++
		rc.mu.Unlock()
	}
	return c.next.Do(req)
}
