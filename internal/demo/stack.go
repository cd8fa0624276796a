package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/examples/shop/appdata"
	"github.com/dynalock/dynalock/internal/dynamotest"
	"github.com/dynalock/dynalock/internal/emulator"
)

// The example functions, as named under functions/ and build/.
const (
	ReserveStock  = "reserve-stock"
	AccountEvents = "account-events"
	NightlyRollup = "nightly-rollup"
	// AccountTransfers serves POST /accounts/{id}/transfers (HTTP API).
	AccountTransfers = "account-transfers"
	// LowStockAlerts consumes the application table's DynamoDB stream.
	LowStockAlerts = "low-stock-alerts"
	// TenantExports runs export jobs from SQS, at most TENANT_PERMITS of
	// one tenant at once.
	TenantExports = "tenant-exports"
)

// FunctionNames returns the example functions' names.
func FunctionNames() []string {
	return []string{ReserveStock, AccountEvents, NightlyRollup, AccountTransfers, LowStockAlerts, TenantExports}
}

// RIEBinary is the emulator's file name in a binary directory.
const RIEBinary = "aws-lambda-rie"

// Timeout is the functions' timeout under the emulator, in whole seconds
// (AWS_LAMBDA_FUNCTION_TIMEOUT), sized for an emulator on a busy laptop
// rather than for AWS (the stack's is 30 s):
//
//   - short, because the middleware leases a lock until the invocation's
//     deadline plus a second's grace, so that a crashed holder's lock
//     frees itself within seconds, and the SQS visibility timeout is six
//     times it, so that a record waiting it out does so in seconds;
//   - not shorter, because a lease must last at least twice the lock's
//     clock-skew tolerance (2 s), so an invocation starts no record in its
//     last second, and DynamoDB Local on a loaded two-core machine answers
//     in tens to hundreds of milliseconds, not DynamoDB's few: with 3 s, a
//     batch whose records share a SKU (run one after the other) ran out of
//     time at a load average of 20, and its later records waited out the
//     visibility timeout.
const Timeout = 5

// Stack is DynamoDB Local with a lock table, application tables, and the
// emulators running functions against them. Close stops everything.
type Stack struct {
	// DB is the DynamoDB Local server the stack started or found.
	DB *dynamotest.Server
	// LockTable is the lock table's name.
	LockTable string
	// SQS is the stand-in for SQS that DeliverSQS delivers from and the
	// functions reach through AWS_ENDPOINT_URL_SQS.
	SQS *SQS

	binDir string
	logDir string
	// lockTables are LockTable and the lock tables of scenarios that run
	// beside the others, each on its own (NewLockTable).
	lockTables []string

	mu     sync.Mutex // protects funcs and counts
	funcs  []*Function
	counts map[string]int // emulators started per function, for log names
}

// StackConfig says where a Stack finds its binaries and writes logs.
type StackConfig struct {
	// BinDir holds aws-lambda-rie and <function>/bootstrap for this
	// machine, as `make build-local` writes them to build/local.
	BinDir string
	// LogDir receives each emulator's output, <function>-<n>.log.
	LogDir string
}

// CheckBinaries reports a missing emulator or function binary in binDir.
func CheckBinaries(binDir string) error {
	paths := []string{filepath.Join(binDir, RIEBinary)}
	for _, fn := range FunctionNames() {
		paths = append(paths, filepath.Join(binDir, fn, "bootstrap"))
	}
	var errs []error
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("demo: binaries missing (run make build-local): %w", err)
	}
	return nil
}

// NewStack starts DynamoDB Local (or uses the one DYNALOCK_DYNAMODB_ENDPOINT
// names) and creates the lock table in it with admin.CreateTable.
func NewStack(ctx context.Context, cfg StackConfig) (*Stack, error) {
	if err := CheckBinaries(cfg.BinDir); err != nil {
		return nil, err
	}
	binDir, err := filepath.Abs(cfg.BinDir)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if err := os.MkdirAll(cfg.LogDir, 0o755); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	srv, err := dynamotest.Start(ctx)
	if err != nil {
		return nil, err
	}
	s := &Stack{DB: srv, LockTable: "dynalock-demo-locks-" + strconv.FormatInt(time.Now().UnixMilli(), 36), binDir: binDir, logDir: cfg.LogDir}
	if s.SQS, err = StartSQS(); err != nil {
		s.Close()
		return nil, err
	}
	if err := admin.CreateTable(ctx, srv.Client(), s.LockTable); err != nil {
		s.Close()
		return nil, fmt.Errorf("demo: create the lock table: %w", err)
	}
	s.lockTables = []string{s.LockTable}
	return s, nil
}

// NewLockTable creates a lock table of its own for a scenario that runs
// beside others, LockTable's name with suffix appended, and returns its
// name. HeldLocks reads it too.
func (s *Stack) NewLockTable(ctx context.Context, suffix string) (string, error) {
	name := s.LockTable + "-" + suffix
	if err := admin.CreateTable(ctx, s.Client(), name); err != nil {
		return "", fmt.Errorf("demo: create the lock table %s: %w", name, err)
	}
	s.mu.Lock()
	s.lockTables = append(s.lockTables, name)
	s.mu.Unlock()
	return name, nil
}

// Client returns a DynamoDB client of the stack's DynamoDB Local.
func (s *Stack) Client() *dynamodb.Client { return s.DB.Client() }

// CreateAppTable creates an application table named name from
// appdata.CreateTableInput with a stream of both images, as the CDK stack
// does (for low-stock-alerts), and waits until it is active.
func (s *Stack) CreateAppTable(ctx context.Context, name string) error {
	db := s.Client()
	in := appdata.CreateTableInput(name)
	in.StreamSpecification = &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages}
	if _, err := db.CreateTable(ctx, in); err != nil {
		return fmt.Errorf("demo: create table %s: %w", name, err)
	}
	w := dynamodb.NewTableExistsWaiter(db)
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, time.Minute); err != nil {
		return fmt.Errorf("demo: table %s: %w", name, err)
	}
	return nil
}

// Start starts n emulators of function fn against appTable, each its own
// execution environment. env adds to or overrides the function's
// environment (such as WORK_DELAY or DYNALOCK_DISABLED).
func (s *Stack) Start(ctx context.Context, fn, appTable string, n int, env map[string]string) (*Function, error) {
	vars := map[string]string{
		"AWS_ENDPOINT_URL_DYNAMODB":   s.DB.Endpoint,
		"AWS_ENDPOINT_URL_SQS":        s.SQS.Endpoint,
		"AWS_ACCESS_KEY_ID":           "local",
		"AWS_SECRET_ACCESS_KEY":       "local",
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_DEFAULT_PROFILE":         "",
		"AWS_REGION":                  dynamotest.Region,
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_LAMBDA_FUNCTION_NAME":    fn,
		"AWS_LAMBDA_FUNCTION_TIMEOUT": strconv.Itoa(Timeout),
		"LOCK_TABLE":                  s.LockTable,
		"APP_TABLE":                   appTable,
		"LOG_LEVEL":                   "info",
	}
	for k, v := range env {
		vars[k] = v
	}
	var list []string
	for k, v := range vars {
		list = append(list, k+"="+v)
	}
	f := newFunction(fn)
	f.sqs = s.SQS
	s.mu.Lock()
	s.funcs = append(s.funcs, f)
	if s.counts == nil {
		s.counts = map[string]int{}
	}
	first := s.counts[fn]
	s.counts[fn] += n
	s.mu.Unlock()
	for i := range n {
		name := filepath.Join(s.logDir, fmt.Sprintf("%s-%d.log", fn, first+i+1))
		log, err := os.Create(name)
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		in, err := emulator.Start(ctx, emulator.Config{
			RIE:       filepath.Join(s.binDir, RIEBinary),
			Bootstrap: filepath.Join(s.binDir, fn, "bootstrap"),
			Env:       list,
			Output:    f.output(log),
		})
		if err != nil {
			log.Close()
			return nil, err
		}
		f.add(in, log, name)
	}
	return f, nil
}

// Close stops every emulator and DynamoDB Local, if the stack started it.
// It is safe to call more than once.
func (s *Stack) Close() {
	s.mu.Lock()
	funcs := s.funcs
	s.funcs = nil
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, f := range funcs {
		wg.Go(f.Stop)
	}
	wg.Wait()
	s.SQS.Close()
	s.DB.Stop()
}
