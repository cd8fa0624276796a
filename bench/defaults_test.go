package bench_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/internal/lockopt"
	"github.com/dynalock/dynalock/lock"
)

// defaults are the settings of a lock call that sets nothing (TTL,
// clock-skew tolerance, retention, wait steps), as the lock resolves them
// from a zero lock.Config. The lock exports only DefaultTTL; the bench
// reads the others from the lock itself rather than copying them, so that
// its floors and its model of a waiter follow the lock's defaults.
var defaults = lockDefaults()

// lockDefaults returns the settings of one Acquire with no options: an
// option records them and then makes the call invalid (a zero TTL), so
// that the lock refuses it before sending anything.
func lockDefaults() lockopt.Options {
	c, err := lock.NewClient(context.Background(), lock.Config{TableName: "defaults", DynamoDB: noDB{}})
	if err != nil {
		panic(err)
	}
	var o lockopt.Options
	_, err = c.Lock("defaults").Acquire(context.Background(), func(p *lockopt.Options) { o, p.TTL = *p, 0 })
	if !errors.Is(err, lock.ErrInvalidInput) {
		panic(fmt.Sprintf("bench: reading the lock's defaults: want an invalid-input error, got %v", err))
	}
	return o
}

// noDB is a DynamoDB client that is never called.
type noDB struct{}

func (noDB) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	panic("bench: noDB called")
}

func (noDB) TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	panic("bench: noDB called")
}
