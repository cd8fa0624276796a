package appdata

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// UpdateItemAPI is the DynamoDB call FencedUpdate sends.
type UpdateItemAPI interface {
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// FencedUpdate is the write of a read-check-write on one application
// item: it sets the attributes in Set and adds Member to the string set
// AddTo (the record of outcomes that makes a redelivered message a no-op),
// only if the item exists and, when Token is not 0, only if no write with a
// newer fencing token was made (see Fence). Token 0 writes unfenced: the
// demo's run without locks.
type FencedUpdate struct {
	ID     string                          // the item's partition key value
	Set    map[string]types.AttributeValue // attribute name → new value
	AddTo  string                          // string-set attribute Member is added to
	Member string
	Token  int64
}

// Send writes u to table in one UpdateItem. A failed condition gives an
// error matching ErrStaleToken.
func (u FencedUpdate) Send(ctx context.Context, db UpdateItemAPI, table string) error {
	names := map[string]string{"#id": PartitionKey, "#set": u.AddTo}
	values := map[string]types.AttributeValue{":member": SS(u.Member)}
	var set []string
	for i, name := range slices.Sorted(maps.Keys(u.Set)) {
		n, v := fmt.Sprintf("#a%d", i), fmt.Sprintf(":a%d", i)
		names[n], values[v] = name, u.Set[name]
		set = append(set, n+" = "+v)
	}
	cond := "attribute_exists(#id)"
	if u.Token != 0 {
		fc, fn, fv := Fence(u.Token)
		cond += " AND (" + fc + ")"
		set = append(set, FenceSet)
		maps.Copy(names, fn)
		maps.Copy(values, fv)
	}
	expr := "ADD #set :member"
	if len(set) > 0 {
		expr = "SET " + strings.Join(set, ", ") + " " + expr
	}
	_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(table),
		Key:                       Key(u.ID),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("with token %d: %w", u.Token, ErrStaleToken)
	}
	return err
}
