package lock

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// GetItemAPI is the part of *dynamodb.Client that ReadRecord uses.
type GetItemAPI interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// ReadRecord reads what is stored for the lock id in table, with a
// strongly consistent read, for operators' tools and tests; the lock
// itself never reads. found is false when the lock has no item.
func ReadRecord(ctx context.Context, db GetItemAPI, table, id string) (rec Record, found bool, err error) {
	if err := ValidateLockID(id); err != nil {
		return Record{}, false, err
	}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            keyOf(id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Record{}, false, fmt.Errorf("lock: read %q: %w", id, err)
	}
	if len(out.Item) == 0 {
		return Record{}, false, nil
	}
	rec, err = ParseRecord(out.Item)
	if err != nil {
		return Record{}, true, fmt.Errorf("lock: read %q: %w", id, err)
	}
	return rec, true, nil
}
