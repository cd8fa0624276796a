// Package dynalocktest gives unit tests an in-memory DynamoDB, so that a
// handler wrapped with the middleware, or code under a lock, runs in plain
// go test: no Java, no Docker, no AWS account. It is to DynaLock what
// net/http/httptest is to net/http.
//
// The double is an HTTP server on a loopback port that speaks DynamoDB's
// own JSON protocol, so every aws-sdk-go-v2 DynamoDB client works with it:
// the lock client's, and your application's for its own tables. It serves
// what DynaLock and a typical handler use: tables (CreateTable,
// DescribeTable, TTL), GetItem, PutItem, UpdateItem, DeleteItem, Query,
// Scan, the batch calls and TransactWriteItems, with DynamoDB's condition
// and update expressions and its errors (ConditionalCheckFailedException
// with the old item, TransactionCanceledException with its reasons,
// ValidationException for what DynamoDB refuses, such as an unused
// placeholder or a reserved word). Like DynamoDB, it never deletes an item
// when its TTL passes; DynaLock never depends on that deletion.
//
// DynaLock's own lock, middleware and admin test suites run on both this
// double and Amazon DynamoDB Local in CI, so the two cannot drift apart
// unnoticed. What it does not model: capacity and throttling, secondary
// index projections (a query on an index returns whole items), streams,
// PartiQL, and the legacy (non-expression) parameters.
//
// A test of a wrapped SQS handler:
//
//	func TestReserve(t *testing.T) {
//		h, err := middleware.WrapSQS(dynalocktest.NewClient(t, lock.Config{}), middleware.SQSBody("sku"), reserve,
//			middleware.WithNamespace("sku"))
//		if err != nil {
//			t.Fatal(err)
//		}
//		resp, err := h(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{MessageId: "1", Body: `{"sku":"MUG"}`}}})
//		// …
//	}
//
// A handler that also writes to its own table uses one double for both:
//
//	db := dynalocktest.DynamoDB(t)                            // create the application's tables on db
//	locks := dynalocktest.NewClient(t, lock.Config{DynamoDB: db})
package dynalocktest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/internal/memddb"
	"github.com/dynalock/dynalock/lock"
)

// LockTable is the name of the lock table NewClient creates when the
// Config names none.
const LockTable = "locks"

// Server is an in-memory DynamoDB served on a loopback port. Its tables
// live as long as it does.
type Server struct {
	s *memddb.Server
}

// NewServer starts an empty in-memory DynamoDB. Close stops it.
func NewServer() (*Server, error) {
	s, err := memddb.Start()
	if err != nil {
		return nil, fmt.Errorf("dynalocktest: start the in-memory DynamoDB: %w", err)
	}
	return &Server{s: s}, nil
}

// Endpoint is the server's base URL, such as http://127.0.0.1:41234: what
// an SDK client's BaseEndpoint, or AWS_ENDPOINT_URL_DYNAMODB for code that
// loads its configuration from the environment, points at.
func (s *Server) Endpoint() string { return s.s.Endpoint }

// Client returns a DynamoDB client for the server, with static dummy
// credentials and the region us-east-1; optFns adjust it further (a
// custom HTTP client to inject faults, for instance).
func (s *Server) Client(optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	opts := dynamodb.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(s.s.Endpoint),
	}
	return dynamodb.New(opts, optFns...)
}

// Close stops the server and closes its connections.
func (s *Server) Close() error { return s.s.Close() }

// DynamoDB starts an in-memory DynamoDB for t, stopped when t ends, and
// returns a client for it.
func DynamoDB(t testing.TB, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	t.Helper()
	s, err := NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s.Client(optFns...)
}

// NewClient returns a lock client over an in-memory DynamoDB for t, with
// the lock table created. cfg is the client's configuration as in
// lock.NewClient; its zero value will do. cfg.DynamoDB, if set, is the
// DynamoDB client to use (one from DynamoDB, shared with the code under
// test); otherwise NewClient starts a double of its own. cfg.TableName
// defaults to LockTable. Any error fails t.
func NewClient(t testing.TB, cfg lock.Config) *lock.Client {
	t.Helper()
	if cfg.DynamoDB == nil {
		cfg.DynamoDB = DynamoDB(t)
	}
	if cfg.TableName == "" {
		cfg.TableName = LockTable
	}
	db, ok := cfg.DynamoDB.(admin.TableAPI)
	if !ok {
		t.Fatalf("dynalocktest: NewClient: cfg.DynamoDB (%T) cannot create tables: pass a client from dynalocktest.DynamoDB", cfg.DynamoDB)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.CreateTable(ctx, db, cfg.TableName); err != nil {
		t.Fatalf("dynalocktest: NewClient: %v", err)
	}
	c, err := lock.NewClient(ctx, cfg)
	if err != nil {
		t.Fatalf("dynalocktest: NewClient: %v", err)
	}
	return c
}
