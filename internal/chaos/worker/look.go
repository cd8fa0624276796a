package worker

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// getItemAPI is a DynamoDB client's read.
type getItemAPI interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// GetItem passes on the reads a waiting lock client makes between its
// writes (the lock reads when its client can), over the same faulty
// connection; the connection records them as reads.
func (o *observedDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	r, ok := o.next.(getItemAPI)
	if !ok {
		return nil, errors.New("worker: the DynamoDB client cannot read")
	}
	return r.GetItem(ctx, in, optFns...)
}
