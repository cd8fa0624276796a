package lock

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// The holders of a lock ID with permits share its one item, which
// DynamoDB caps at 400 KB (names and values counted). An acquire whose
// n entries, each the size of its own with the caller's metadata, cannot
// fit is refused before any request; one that is refused for size anyway
// (holders with larger entries, written with other metadata) reads the
// item and judges it as a full one.

const (
	// maxItemBytes is DynamoDB's item size limit.
	maxItemBytes = 400 * 1024
	// itemFixedBytes bounds what a permit item holds besides its
	// entries: the key (a partition key is at most 2,048 bytes, a sort
	// key 1,024), Permits, Token, TTL, ForcedLease, ForceCount and the
	// two maps' names.
	itemFixedBytes = 2048 + 1024 + 1024
	// numberBytes bounds a stored number's size.
	numberBytes = 21
	// requestIDBytes bounds a Lambda request ID (a UUID is 36 bytes).
	requestIDBytes = 64
	// leaseIDBytes is a lease ID's length (newLeaseID).
	leaseIDBytes = 32
)

// permitEntryBytes bounds the bytes one holder adds to the item: its
// entry in Holders, by DynamoDB's rules (a map is 3 bytes plus, per
// element, its name, its value and 1 byte), and its token in
// PermitTokens. The request ID is counted whether or not the call runs
// in Lambda, so the bound does not depend on where it runs.
func permitEntryBytes(o options, host string) int {
	field := func(name string, value int) int { return len(name) + value + 1 }
	e := 3 +
		field(attrOwner, len(o.Owner)) +
		field(attrExpiresAt, numberBytes) +
		field(attrAcquiredAt, numberBytes) +
		field(attrGranted, numberBytes) +
		field(attrHost, len(host)) +
		field(attrRequestID, requestIDBytes)
	if len(o.Metadata) > 0 {
		m := 3
		for k, v := range o.Metadata {
			m += field(k, len(v))
		}
		e += field(attrMetadata, m)
	}
	return (leaseIDBytes + e + 1) + (leaseIDBytes + numberBytes + 1)
}

// checkPermitsFit refuses n permits whose entries, each the size of this
// caller's, cannot all fit in the item: the last holders' acquires would
// fail on DynamoDB's size limit rather than find the permits held.
func checkPermitsFit(o options, host string) error {
	if o.Permits <= 1 {
		return nil
	}
	entry := permitEntryBytes(o, host)
	if o.Permits*entry+itemFixedBytes <= maxItemBytes {
		return nil
	}
	fit := max((maxItemBytes-itemFixedBytes)/entry, 0)
	return invalid("WithPermits(%d): each holder's entry takes up to %d bytes with this owner, host and metadata, and all %d holders share the lock ID's one item, which DynamoDB caps at 400 KB: "+
		"at most %d fit; use fewer permits or less metadata (Config.Metadata)", o.Permits, entry, o.Permits, fit)
}

// isItemTooLarge reports DynamoDB's refusal of a write that would make an
// item larger than 400 KB. Nothing was written.
func isItemTooLarge(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ValidationException" &&
		strings.Contains(strings.ToLower(ae.ErrorMessage()), "item size") &&
		strings.Contains(ae.ErrorMessage(), "exceeded the maximum allowed size")
}

// permitReadInput reads the item of id through the call the client has,
// UpdateItem: a condition that never holds (a size below zero), so
// nothing is written (the update, removing an attribute no item has,
// would change nothing anyway) and the item comes back with the refusal. It costs
// write units as a refused acquire does (the item's size in KB).
func (c *Client) permitReadInput(id string) *dynamodb.UpdateItemInput {
	return &dynamodb.UpdateItemInput{
		TableName:                           aws.String(c.table),
		Key:                                 c.keyOf(id),
		UpdateExpression:                    aws.String("REMOVE #none"),
		ConditionExpression:                 aws.String("size(#h) < :zero"),
		ExpressionAttributeNames:            map[string]string{"#none": "NoSuchAttribute", "#h": attrHolders},
		ExpressionAttributeValues:           map[string]types.AttributeValue{":zero": nAttr(0)},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
}

// readAfterTooLarge reads the item after a request refused for size: the
// item the refusal did not return.
func (c *Client) readAfterTooLarge(ctx context.Context, id string) (map[string]types.AttributeValue, error) {
	_, err := c.db.UpdateItem(ctx, c.permitReadInput(id))
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return ccf.Item, nil
	}
	if err == nil {
		err = errors.New("the read's condition held")
	}
	return nil, fmt.Errorf("%w: %q: the acquire was refused for the item's size, and reading the item failed: %w", ErrLockAcquisition, id, err)
}
