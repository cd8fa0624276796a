package testshape_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/internal/dynamotest"
	"github.com/dynalock/dynalock/internal/testshape"
)

var srv *dynamotest.Server

func TestMain(m *testing.M) { dynamotest.Main(m, &srv) }

// TestCheckDecoys: the application items seeded beside the locks are found
// unchanged, and a change to one, or its deletion, is reported.
func TestCheckDecoys(t *testing.T) {
	ctx := context.Background()
	s, err := testshape.Named("shared")
	if err != nil {
		t.Fatal(err)
	}
	db, table := srv.Client(), dynamotest.TableName(t)
	if err := s.Table.CreateTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	if err := s.Seed(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckDecoys(ctx, db, table); err != nil {
		t.Fatalf("fresh decoys: %v", err)
	}
	decoys := s.Decoys()
	key := func(i int) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"PK": decoys[i]["PK"], "SK": decoys[i]["SK"]}
	}
	if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: key(0),
		UpdateExpression: aws.String("SET #t = :t"), ExpressionAttributeNames: map[string]string{"#t": "ttl"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberN{Value: "1"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckDecoys(ctx, db, table); err == nil {
		t.Error("a changed decoy was not reported")
	}
	if err := s.Seed(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: key(len(decoys) - 1)}); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckDecoys(ctx, db, table); err == nil {
		t.Error("a deleted decoy was not reported")
	}
	if seed, _ := testshape.Named("seed"); len(seed.Decoys()) != 0 {
		t.Error("decoys in the seed's shape")
	}
}
