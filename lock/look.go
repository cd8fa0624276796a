package lock

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// getItemAPI is the read a waiter makes between its writes, when its
// DynamoDB client has it (a *dynamodb.Client does; DynamoDBAPI does not
// require it, and without it a waiter writes at every step).
type getItemAPI interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// readDenied reports whether err says the caller may not read the lock
// table (a role granted dynamodb:UpdateItem alone, as before waiters
// read).
func readDenied(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "AccessDeniedException"
}

func (c *Client) reader() getItemAPI {
	r, _ := c.db.(getItemAPI)
	return r
}

// lookAttrs are the attributes a waiter's read needs beside the partition
// key (so that an existing item is never read as none): whose lease,
// whether it was released, its end and its version.
var lookAttrs = []string{attrLease, attrReleasedLease, attrExpiresAt, attrLeaseVersion, attrLeaseMs}

// look reads the item of lock id, eventually consistent (half the read
// units of a consistent read): a stale answer shows an older version,
// which only delays the waiter, since a takeover write requires the
// version it saw to be the item's still. It returns the item (nil for
// none) and the time to count its version from (countFrom).
func (c *Client) look(ctx context.Context, r getItemAPI, id string, skew time.Duration) (map[string]types.AttributeValue, time.Time, error) {
	attrs := append([]string{c.shape.PartitionKey}, lookAttrs...)
	names := make(map[string]string, len(attrs))
	proj := make([]string, len(attrs))
	for i, a := range attrs {
		p := "#a" + string(rune('0'+i))
		names[p], proj[i] = a, p
	}
	sent := time.Now()
	out, err := r.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:                aws.String(c.table),
		Key:                      c.keyOf(id),
		ProjectionExpression:     aws.String(strings.Join(proj, ", ")),
		ExpressionAttributeNames: names,
	})
	at := countFrom(sent, time.Now(), skew)
	if err != nil {
		return nil, at, err
	}
	return out.Item, at, nil
}
