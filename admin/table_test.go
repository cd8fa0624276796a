package admin_test

import (
	"context"
	"errors"
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

// TestCreateTable runs CreateTable against tables made beforehand in
// various shapes: it completes a lock table and refuses, without changing
// it, any table that is not one.
func TestCreateTable(t *testing.T) {
	t.Parallel()
	type key struct {
		name string
		typ  types.ScalarAttributeType
		kind types.KeyType
	}
	lockKey := []key{{"LockId", types.ScalarAttributeTypeS, types.KeyTypeHash}}
	tests := []struct {
		name     string
		existing []key // the table's key before CreateTable; nil: no table
		ttlOn    string
		// wantErr are substrings of the refusal; none means success.
		wantErr []string
		wantTTL string // the TTL attribute after the call ("" means TTL off)
	}{
		{name: "no table", wantTTL: "TTL"},
		{name: "lock table with TTL", existing: lockKey, ttlOn: "TTL", wantTTL: "TTL"},
		{name: "lock table without TTL gets it", existing: lockKey, wantTTL: "TTL"},
		{
			name:     "other partition key",
			existing: []key{{"OrderId", types.ScalarAttributeTypeS, types.KeyTypeHash}},
			wantErr:  []string{`partition key OrderId (S)`, `needs partition key LockId (S)`, "not changed"},
		},
		{
			name:     "LockId of type N",
			existing: []key{{"LockId", types.ScalarAttributeTypeN, types.KeyTypeHash}},
			wantErr:  []string{`partition key LockId (N)`, `needs partition key LockId (S)`},
		},
		{
			name:     "LockId with a sort key",
			existing: []key{lockKey[0], {"Version", types.ScalarAttributeTypeN, types.KeyTypeRange}},
			wantErr:  []string{`sort key Version (N)`, "no sort key"},
		},
		{
			name:     "TTL on another attribute",
			existing: lockKey, ttlOn: "expires",
			wantErr: []string{`TTL on attribute "expires"`, `needs it on "TTL"`},
			wantTTL: "expires",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			db, table := srv.Client(), dynamotest.TableName(t)
			if tt.existing != nil {
				in := &dynamodb.CreateTableInput{TableName: aws.String(table), BillingMode: types.BillingModePayPerRequest}
				for _, k := range tt.existing {
					in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String(k.name), AttributeType: k.typ})
					in.KeySchema = append(in.KeySchema, types.KeySchemaElement{AttributeName: aws.String(k.name), KeyType: k.kind})
				}
				if _, err := db.CreateTable(ctx, in); err != nil {
					t.Fatal(err)
				}
				if tt.ttlOn != "" {
					enableTTL(ctx, t, db, table, tt.ttlOn)
				}
			}

			err := admin.CreateTable(ctx, db, table)

			if len(tt.wantErr) == 0 && err != nil {
				t.Fatalf("CreateTable: %v", err)
			}
			if len(tt.wantErr) > 0 {
				if !errors.Is(err, admin.ErrNotLockTable) {
					t.Fatalf("CreateTable: %v, want ErrNotLockTable", err)
				}
				for _, s := range append(tt.wantErr, table) {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not say %q", err, s)
					}
				}
			}
			if got := ttlAttribute(ctx, t, db, table); got != tt.wantTTL {
				t.Errorf("TTL on %q after CreateTable, want %q", got, tt.wantTTL)
			}
		})
	}
}

// TestCreateTableEmptyName is refused before any request.
func TestCreateTableEmptyName(t *testing.T) {
	t.Parallel()
	if err := admin.CreateTable(context.Background(), srv.Client(), ""); !errors.Is(err, lock.ErrInvalidInput) {
		t.Errorf("CreateTable(\"\") = %v, want ErrInvalidInput", err)
	}
}

func enableTTL(ctx context.Context, t *testing.T, db *dynamodb.Client, table, attr string) {
	t.Helper()
	_, err := db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(attr), Enabled: aws.Bool(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// ttlAttribute returns the attribute TTL is on in table, or "" when TTL
// is off.
func ttlAttribute(ctx context.Context, t *testing.T, db *dynamodb.Client, table string) string {
	t.Helper()
	out, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	d := out.TimeToLiveDescription
	if d == nil || (d.TimeToLiveStatus != types.TimeToLiveStatusEnabled && d.TimeToLiveStatus != types.TimeToLiveStatusEnabling) {
		return ""
	}
	return aws.ToString(d.AttributeName)
}
