package main

import (
	"bytes"
	"context"
	"github.com/dynalock/dynalock/admin"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/internal/dynamotest"
	"github.com/dynalock/dynalock/lock"
)

var srv *dynamotest.Server

func TestMain(m *testing.M) {
	// The command configures itself from the standard AWS chain, as it
	// does for operators: dummy credentials from the environment.
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           "local",
		"AWS_SECRET_ACCESS_KEY":       "local",
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		os.Setenv(k, v)
	}
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", envTable} {
		os.Unsetenv(k)
	}
	dynamotest.Main(m, &srv)
}

// fixture is one test's lock table, with a lock client to set locks up as
// the functions do and a DynamoDB client to check the items.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	table string
	db    *dynamodb.Client
	locks *lock.Client
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	f := &fixture{t: t, ctx: ctx, table: dynamotest.TableName(t), db: srv.Client()}
	if err := admin.CreateTable(ctx, f.db, f.table); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.locks, err = lock.NewClient(ctx, lock.Config{TableName: f.table, DynamoDB: f.db}); err != nil {
		t.Fatal(err)
	}
	return f
}

// result is what one run of the command printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs dynalock against the fixture's table on DynamoDB Local, with
// stdin as its input.
func (f *fixture) cli(stdin io.Reader, args ...string) result {
	f.t.Helper()
	args = append(args, "--table", f.table, "--endpoint", srv.Endpoint)
	return runCLI(f.ctx, stdin, args...)
}

func runCLI(ctx context.Context, stdin io.Reader, args ...string) result {
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errOut bytes.Buffer
	code := run(ctx, args, stdin, &out, &errOut)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

func (r result) want(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
}

// acquire takes lock id as the functions do, failing the test otherwise;
// opts set what differs between functions (lockopt.Owner, lockopt.Clock…).
func (f *fixture) acquire(ctx context.Context, id string, opts ...lock.Option) *lock.Lease {
	f.t.Helper()
	l, err := f.locks.Lock(id).Acquire(ctx, opts...)
	if err != nil {
		f.t.Fatalf("acquire %q: %v", id, err)
	}
	return l
}

// record reads lock id's item, failing the test if it is missing.
func (f *fixture) record(id string) admin.Record {
	f.t.Helper()
	rec, found, err := admin.Read(f.ctx, f.db, f.table, id)
	if err != nil || !found {
		f.t.Fatalf("lock %q: found %v, %v", id, found, err)
	}
	return rec
}

// offsetClock returns the system clock moved by a fixed offset: a holder
// whose clock is ahead sees other leases end early.
func offsetClock(offset time.Duration) func() time.Time {
	return func() time.Time { return time.Now().Add(offset) }
}

// maxLockIDBytes is DynamoDB's limit on a partition key's size.
const maxLockIDBytes = 2048

// hookReader runs hook before its first read: something happens while the
// operator is reading the prompt.
type hookReader struct {
	hook func()
	r    io.Reader
	once sync.Once
}

func (h *hookReader) Read(p []byte) (int, error) {
	h.once.Do(h.hook)
	return h.r.Read(p)
}
