package lock

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/internal/ddbclient"
)

// DynamoDBAPI is the part of *dynamodb.Client that the lock uses: one
// conditional UpdateItem per acquire, release and extend, and
// TransactWriteItems for Lease.Write and Lease.Complete with items. Pass a
// *dynamodb.Client configured as you like (Config.DynamoDB), or anything
// with these methods. A client that also has GetItem (a *dynamodb.Client
// does) lets a waiter (WithWait) read the held lock's item between its
// writes, eventually consistent, instead of writing at every step: the
// role then needs dynamodb:GetItem on the lock table too (without it, a
// waiter waits by writes alone).
type DynamoDBAPI interface {
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// newDynamoDBClient builds the client NewClient uses when Config names
// none: the AWS SDK's default chain, with region overriding its region.
func newDynamoDBClient(ctx context.Context, region string) (DynamoDBAPI, error) {
	db, err := ddbclient.New(ctx, region)
	if errors.Is(err, ddbclient.ErrNoRegion) {
		return nil, invalid("%v", err)
	}
	return db, err
}
