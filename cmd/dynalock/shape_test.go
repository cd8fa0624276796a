package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/internal/dynamotest"
	"github.com/dynalock/dynalock/lock"
)

// TestSharedTable: with the key flags, every command works on locks kept
// in a shared table, beside the application's items, which it never shows
// or touches; without them, create-table refuses that table.
func TestSharedTable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	table, db := dynamotest.TableName(t), srv.Client()
	shape := []string{"--table", table, "--endpoint", srv.Endpoint, "--partition-key", "PK", "--sort-key", "SK",
		"--sort-key-value", "LOCK", "--partition-key-prefix", "lock#", "--ttl-attribute", "expires"}
	cli := func(args ...string) result {
		t.Helper()
		return runCLI(ctx, nil, append(args, shape...)...)
	}

	r := cli("create-table")
	r.want(t, exitOK)
	if want := fmt.Sprintf("lock table %q is ready: partition key PK (S), sort key SK (S), TTL on expires\n", table); r.stdout != want {
		t.Errorf("create-table: %q, want %q", r.stdout, want)
	}
	refused := runCLI(ctx, nil, "create-table", "--table", table, "--endpoint", srv.Endpoint)
	refused.want(t, exitError)
	if !strings.Contains(refused.stderr, "partition key PK (S) and sort key SK (S)") {
		t.Errorf("create-table in the seed's shape on the shared table: %q, want it refused naming the table's key", refused.stderr)
	}

	bad := runCLI(ctx, nil, "list", "--table", table, "--endpoint", srv.Endpoint, "--sort-key", "SK")
	bad.want(t, exitUsage)
	if !strings.Contains(bad.stderr, "sort key") {
		t.Errorf("--sort-key without --sort-key-value: %q, want a usage error about the sort key", bad.stderr)
	}

	app := map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: "lock#job"}, "SK": &types.AttributeValueMemberS{Value: "ORDER#1"},
		"Owner": &types.AttributeValueMemberS{Value: "not a lock"},
	}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: app}); err != nil {
		t.Fatal(err)
	}
	locks, err := lock.NewClient(ctx, lock.Config{TableName: table, DynamoDB: db, PartitionKey: "PK", SortKey: "SK",
		SortKeyValue: "LOCK", PartitionKeyPrefix: "lock#", TTLAttribute: "expires"})
	if err != nil {
		t.Fatal(err)
	}
	held, err := locks.Lock("job").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}

	r = cli("list", "--json")
	r.want(t, exitOK)
	var listed []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil || len(listed) != 1 || listed[0]["lockId"] != "job" {
		t.Errorf("list --json: %s (%v), want the one lock job and no application item; stderr %s", r.stdout, err, r.stderr)
	}
	if strings.Contains(r.stderr, "TTL") {
		t.Errorf("a note about TTL, which is on the table's attribute: %s", r.stderr)
	}
	r = cli("show", "job")
	r.want(t, exitOK)
	if !strings.Contains(r.stdout, held.LeaseID()) {
		t.Errorf("show job: %s, want its lease %s", r.stdout, held.LeaseID())
	}
	cli("acquire", "job").want(t, exitHeld)
	cli("release", "job", "--force", "--token", strconv.FormatInt(held.FencingToken(), 10), "--reason", "test").want(t, exitOK)
	if err := held.Release(ctx); err == nil {
		t.Error("the holder's release after the force-release: no error")
	}
	cli("acquire", "job", "--ttl", "5s").want(t, exitOK)

	// An idempotency record in the shared table: shown, forgotten, run again.
	claimID := admin.ClaimID("test", "fn", "evt-1")
	cl, err := locks.Claim(ctx, claimID, []byte("body"))
	if err != nil || cl.Lease == nil {
		t.Fatalf("claim: %+v, %v", cl, err)
	}
	if err := cl.Lease.Complete(ctx, []byte(`"done"`)); err != nil {
		t.Fatal(err)
	}
	cli("idempotency", "show", claimID).want(t, exitOK)
	cli("idempotency", "forget", claimID, "--reason", "test", "--token", strconv.FormatInt(cl.Lease.FencingToken(), 10)).want(t, exitOK)
	if again, err := locks.Claim(ctx, claimID, []byte("body")); err != nil || again.Done || again.Lease == nil {
		t.Errorf("claim after the forget: %+v, %v; want the work to run again", again, err)
	}

	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{"PK": app["PK"], "SK": app["SK"]}})
	if err != nil || len(out.Item) != len(app) {
		t.Errorf("the application's item after the commands: %v, %v; want it untouched", out.Item, err)
	}
}
