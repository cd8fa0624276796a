package main

import (
	"context"
	"fmt"
	"github.com/dynalock/dynalock/admin"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/internal/dynamotest"
	"github.com/dynalock/dynalock/lock"
)

func TestCreateTable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	table := dynamotest.TableName(t)
	for i := range 2 { // the second run finds the table and is fine with it
		r := runCLI(ctx, nil, "create-table", "--table", table, "--endpoint", srv.Endpoint)
		r.want(t, exitOK)
		if i == 0 && r.stdout != fmt.Sprintf("lock table %q is ready: partition key LockId (S), TTL on TTL\n", table) {
			t.Errorf("stdout %q", r.stdout)
		}
	}
	db := srv.Client()
	desc, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if ks := desc.Table.KeySchema; len(ks) != 1 || aws.ToString(ks[0].AttributeName) != admin.Table.PartitionKey {
		t.Errorf("key schema %+v", ks)
	}
	ttl, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if d := ttl.TimeToLiveDescription; d.TimeToLiveStatus != types.TimeToLiveStatusEnabled || aws.ToString(d.AttributeName) != admin.Table.TTLAttribute {
		t.Errorf("TTL %s on %q, want ENABLED on %q", d.TimeToLiveStatus, aws.ToString(d.AttributeName), admin.Table.TTLAttribute)
	}
	// The table works with the lock package.
	locks, err := lock.NewClient(ctx, lock.Config{TableName: table, DynamoDB: db})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := locks.Lock("job").Acquire(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestCreateTableRefusesOtherTable: create-table on a table with another
// key says what it found and changes nothing.
func TestCreateTableRefusesOtherTable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, table := srv.Client(), dynamotest.TableName(t)
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("OrderId"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("OrderId"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := runCLI(ctx, nil, "create-table", "--table", table, "--endpoint", srv.Endpoint)
	r.want(t, exitError)
	for _, s := range []string{"not a lock table", "partition key OrderId (S)", "needs partition key LockId (S)", "not changed"} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr does not say %q: %s", s, r.stderr)
		}
	}
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing (no \"ready\")", r.stdout)
	}
	ttl, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if st := ttl.TimeToLiveDescription.TimeToLiveStatus; st != types.TimeToLiveStatusDisabled {
		t.Errorf("TTL %s on the other table, want it left DISABLED", st)
	}
}

// The walkthrough's first step: a lock table on DynamoDB Local. The
// command is idempotent.
func Example_createTable() {
	ctx := context.Background()
	args := []string{"create-table", "--table", "example-locks", "--endpoint", srv.Endpoint}
	for range 2 {
		code := run(ctx, args, os.Stdin, os.Stdout, os.Stderr)
		fmt.Println("exit code", code)
	}
	// Output:
	// lock table "example-locks" is ready: partition key LockId (S), TTL on TTL
	// exit code 0
	// lock table "example-locks" is ready: partition key LockId (S), TTL on TTL
	// exit code 0
}
