package appdata

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// GetItemAPI is the DynamoDB call Read sends.
type GetItemAPI interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// Read reads the item id from table with a strongly consistent read, the
// read of a read-check-write, and returns a Decoder over it; found is
// false (and the Decoder's item empty) when there is no such item.
func Read(ctx context.Context, db GetItemAPI, table, id string) (d *Decoder, found bool, err error) {
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            Key(id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, false, err
	}
	return &Decoder{Item: out.Item}, len(out.Item) > 0, nil
}
