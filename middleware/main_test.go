package middleware_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/internal/dynamotest"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/internal/mwopt"
	"github.com/dynalock/dynalock/internal/testshape"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

var srv *dynamotest.Server

// shape is the lock table's shape the suite runs in: the seed's, or with
// DYNALOCK_TEST_TABLE=shared a shared table (internal/testshape).
var shape testshape.Shape

// exampleTable is the lock table of the runnable examples, which make
// their clients as a function's main does: from the environment.
const exampleTable = "middleware_example_locks"

func TestMain(m *testing.M) {
	dynamotest.Main(m, &srv, func(s *dynamotest.Server) error {
		var err error
		if shape, err = testshape.FromEnv(); err != nil {
			return err
		}
		for k, v := range map[string]string{
			"AWS_ENDPOINT_URL_DYNAMODB":   s.Endpoint,
			"AWS_ACCESS_KEY_ID":           "local",
			"AWS_SECRET_ACCESS_KEY":       "local",
			"AWS_REGION":                  dynamotest.Region,
			"AWS_CONFIG_FILE":             os.DevNull,
			"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
			"LOCK_TABLE":                  exampleTable,
		} {
			if err := os.Setenv(k, v); err != nil {
				return err
			}
		}
		return admin.CreateTable(context.Background(), s.Client(), exampleTable)
	})
}

// testSkew is the clock-skew tolerance of the tests' lock clients: small,
// so that short leases stay possible.
const testSkew = 20 * time.Millisecond

// env is one test's lock table, a lock client over a connection whose
// requests are counted (and delayed, when a rule is set), and a log.
type env struct {
	t     testing.TB
	table string
	net   *httpfault.Client
	db    *dynamodb.Client // over net
	c     *lock.Client
	logs  *syncBuffer
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, table: dynamotest.TableName(t), logs: new(syncBuffer)}
	e.net = &httpfault.Client{Next: http.NewBuildableClient()}
	e.db = srv.Client(func(o *dynamodb.Options) { o.HTTPClient = e.net })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := shape.Table.CreateTable(ctx, srv.Client(), e.table); err != nil {
		t.Fatal(err)
	}
	if err := shape.Seed(ctx, srv.Client(), e.table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := shape.CheckDecoys(context.Background(), srv.Client(), e.table); err != nil {
			t.Error(err)
		}
	})
	e.c = e.client(lock.Config{})
	e.net.Reset()
	return e
}

// client returns a lock client of cfg over e's counted connection (unless
// cfg names another DynamoDB client), on e's table, with a clock-skew
// tolerance of testSkew unless cfg sets one.
func (e *env) client(cfg lock.Config) *lock.Client {
	e.t.Helper()
	cfg.TableName = e.table
	cfg = shape.Apply(cfg)
	if cfg.DynamoDB == nil {
		cfg.DynamoDB = e.db
	}
	if cfg.ClockSkewTolerance == 0 {
		cfg.ClockSkewTolerance = testSkew
	}
	c, err := lock.NewClient(context.Background(), cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// otherClient is client on a connection of its own, not counted, as
// another process would have.
func (e *env) otherClient(cfg lock.Config) *lock.Client {
	e.t.Helper()
	cfg.DynamoDB = srv.Client()
	return e.client(cfg)
}

// opts returns the options every test wrapper uses, then extra: a fixed
// namespace and a JSON log into e.logs at level Debug.
func (e *env) opts(extra ...middleware.Option) []middleware.Option {
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return append([]middleware.Option{middleware.WithNamespace("test"), middleware.WithLogger(log)}, extra...)
}

// hold acquires the lock on key (in namespace "test") as another process
// would, for ttl, and returns its lease.
func (e *env) hold(key string, ttl time.Duration) *lock.Lease {
	e.t.Helper()
	c := e.otherClient(lock.Config{Owner: "other-process", TTL: ttl})
	l, err := c.Lock(middleware.LockID("test", key)).Acquire(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

// record reads the lock item of key (in namespace "test").
func (e *env) record(key string) admin.Record {
	e.t.Helper()
	return e.readRecord(middleware.LockID("test", key))
}

// readRecord reads the item of lock ID id.
func (e *env) readRecord(id string) admin.Record {
	e.t.Helper()
	r, _, err := shape.Table.Read(context.Background(), srv.Client(), e.table, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// requireFree fails unless no key of keys is held.
func (e *env) requireFree(keys ...string) {
	e.t.Helper()
	for _, k := range keys {
		if r := e.record(k); r.Held(time.Now()) {
			e.t.Errorf("lock %q still held by %q", k, r.Owner)
		}
	}
}

// logLines returns the log's entries whose msg contains msg.
func (e *env) logLines(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && strings.Contains(m["msg"].(string), msg) {
			out = append(out, m)
		}
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex // protects b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// loadEvent decodes the sample event events/name into v.
func loadEvent(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("events/%s: %v", name, err)
	}
}

func loadSQS(t testing.TB, name string) events.SQSEvent {
	var ev events.SQSEvent
	loadEvent(t, name, &ev)
	return ev
}

func loadEventBridge(t testing.TB, name string) events.EventBridgeEvent {
	var ev events.EventBridgeEvent
	loadEvent(t, name, &ev)
	return ev
}

// lambdaCtx returns a context as the Lambda runtime gives a handler: a
// request ID and, when timeout is positive, a deadline timeout from now.
func lambdaCtx(t testing.TB, requestID string, timeout time.Duration) (context.Context, time.Time) {
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: requestID})
	if timeout <= 0 {
		return ctx, time.Time{}
	}
	deadline := time.Now().Add(timeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	t.Cleanup(cancel)
	return ctx, deadline
}

// failures returns the item identifiers of resp in order.
func failures(resp events.SQSEventResponse) []string {
	ids := []string{}
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return ids
}

// bodySKU decodes a reserve-stock body's SKU.
func bodySKU(t testing.TB, m events.SQSMessage) string {
	var b struct {
		SKU string `json:"sku"`
	}
	if err := json.Unmarshal([]byte(m.Body), &b); err != nil {
		t.Errorf("body of %s: %v", m.MessageId, err)
	}
	return b.SKU
}

// must returns a wrapper's handler, as built without a configuration
// error, to t: must(middleware.Wrap(…))(t). An error fails the test.
func must[H any](h H, err error) func(testing.TB) H {
	return func(t testing.TB) H {
		t.Helper()
		if err != nil {
			t.Fatalf("the wrapper was refused: %v", err)
		}
		return h
	}
}

// withSettings returns ctx carrying the middleware's hidden settings of
// one invocation (internal/mwopt): a grace other than 1 s, lock options
// of every acquire. Applications never set them; the tests and proofs do.
func withSettings(ctx context.Context, s mwopt.Settings) context.Context {
	return mwopt.NewContext(ctx, s)
}

// stallMeter measures the longest time this process went without running
// a ticking goroutine. On a loaded machine a timer fires late, and a
// handler returns late, only while the process is not scheduled; a bound
// on when something returned allows that much more, so that it holds
// under load and still catches a middleware that waits too long (whose
// timers fire on time).
type stallMeter struct {
	stop chan struct{}
	done chan time.Duration
}

func startStallMeter() *stallMeter {
	m := &stallMeter{stop: make(chan struct{}), done: make(chan time.Duration, 1)}
	go func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		last, longest := time.Now(), time.Duration(0)
		for {
			select {
			case <-m.stop:
				m.done <- max(longest, time.Since(last))
				return
			case now := <-tick.C:
				longest, last = max(longest, now.Sub(last)), now
			}
		}
	}()
	return m
}

// longest stops the meter and returns the longest gap it saw.
func (m *stallMeter) longest() time.Duration {
	close(m.stop)
	return <-m.done
}

// emfLine decodes the one EMF line in out.
func emfLine(t *testing.T, out string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d EMF lines, want 1: %s", len(lines), out)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	return m
}
