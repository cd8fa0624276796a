package lock_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/internal/dynamotest"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/internal/testshape"
	"github.com/dynalock/dynalock/lock"
)

var srv *dynamotest.Server

// shape is the lock table's shape the suite runs in: the seed's, or with
// DYNALOCK_TEST_TABLE=shared a shared table (internal/testshape).
var shape testshape.Shape

// exampleTable is the seed's table, which the runnable examples use
// through lock.New and the SDK's default configuration chain.
const exampleTable = "my_lock_table"

func TestMain(m *testing.M) {
	dynamotest.Main(m, &srv, func(s *dynamotest.Server) error {
		var err error
		if shape, err = testshape.FromEnv(); err != nil {
			return err
		}
		// The examples configure themselves as users do: from the environment.
		for k, v := range map[string]string{
			"AWS_ENDPOINT_URL_DYNAMODB":   s.Endpoint,
			"AWS_ACCESS_KEY_ID":           "local",
			"AWS_SECRET_ACCESS_KEY":       "local",
			"AWS_REGION":                  dynamotest.Region,
			"AWS_CONFIG_FILE":             os.DevNull,
			"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		} {
			os.Setenv(k, v)
		}
		if err := admin.CreateTable(context.Background(), s.Client(), exampleTable); err != nil {
			return err
		}
		return createAccounts(s.Client())
	})
}

// exampleAccounts is the application table of ExampleLease_Write, keyed
// by pk (S).
const exampleAccounts = "accounts"

func createAccounts(db *dynamodb.Client) error { return createAppTable(db, exampleAccounts) }

// createAppTable creates an application table keyed by pk (S).
func createAppTable(db *dynamodb.Client, name string) error {
	_, err := db.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          dtypes.BillingModePayPerRequest,
		AttributeDefinitions: []dtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: dtypes.ScalarAttributeTypeS}},
		KeySchema:            []dtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: dtypes.KeyTypeHash}},
	})
	return err
}

// env is one test's lock table and a DynamoDB client whose requests are
// counted (and faulted, when a rule is set).
type env struct {
	t     *testing.T
	table string
	net   *httpfault.Client
	db    *dynamodb.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, table: dynamotest.TableName(t)}
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
	e.net.Reset()
	return e
}

// testSkew is the clock-skew tolerance of the tests' clients, small so
// that short TTLs stay possible.
const testSkew = 20 * time.Millisecond

// client returns a lock client of cfg over e's counted connection, on e's
// table, with a tolerance of testSkew unless cfg sets one. What Config
// has no field for (waits, retention, retry and release bounds) the tests
// pass per call.
func (e *env) client(cfg lock.Config) *lock.Client {
	e.t.Helper()
	return e.clientOn(e.db, cfg)
}

// otherClient is client on a connection of its own, as another process
// would have.
func (e *env) otherClient(cfg lock.Config) *lock.Client {
	e.t.Helper()
	return e.clientOn(srv.Client(), cfg)
}

// clientOn is client over db.
func (e *env) clientOn(db lock.DynamoDBAPI, cfg lock.Config) *lock.Client {
	e.t.Helper()
	cfg.TableName, cfg.DynamoDB = e.table, db
	cfg = shape.Apply(cfg)
	if cfg.ClockSkewTolerance == 0 {
		cfg.ClockSkewTolerance = testSkew
	}
	c, err := lock.NewClient(context.Background(), cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// record reads the lock's item.
func (e *env) record(id string) admin.Record {
	e.t.Helper()
	r, _, err := shape.Table.Read(context.Background(), srv.Client(), e.table, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}
