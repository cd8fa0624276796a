// Package ledger is the chaos run's shared ledger: one item per lock ID
// that the lock's holders write with their fencing tokens, so that a
// holder whose lease has ended cannot write after a newer holder.
//
// A section reads the item's Writes counter and writes it back plus one,
// appending its token to Log: if two holders of one lock ever overlapped,
// one's increment would be lost and Writes would fall behind Log. The
// write goes through only if the item's LastToken is older than the
// writer's, which also makes a retried write that already went through
// fail instead of counting twice.
package ledger

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/examples/shop/appdata"
	"github.com/dynalock/dynalock/internal/chaos/history"
)

// Attributes of a ledger item, beside appdata.PartitionKey.
const (
	attrWrites    = "Writes"    // N: sections' writes, each a read plus one
	attrLate      = "Late"      // N: paused holders' writes the fence let through
	attrLastToken = "LastToken" // N: token of the newest write
	attrLog       = "Log"       // L of N: every write's token, in order
)

// ErrFenced means the write was refused: the item's LastToken is not older
// than the writer's token.
var ErrFenced = errors.New("ledger: write refused by the fence")

// API is the part of *dynamodb.Client the ledger uses.
type API interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Ledger is a ledger table.
type Ledger struct {
	db    API
	table string
	key   func(id string) map[string]types.AttributeValue
}

// New returns the ledger in table.
func New(db API, table string) *Ledger { return &Ledger{db: db, table: table, key: key} }

// NewKeyed returns the ledger whose items are keyed by key in table: in a
// shared table, beside the lock items.
func NewKeyed(db API, table string, key func(id string) map[string]types.AttributeValue) *Ledger {
	return &Ledger{db: db, table: table, key: key}
}

// CreateTable creates a ledger table named name and waits until it is
// active.
func CreateTable(ctx context.Context, db *dynamodb.Client, name string) error {
	if _, err := db.CreateTable(ctx, appdata.CreateTableInput(name)); err != nil {
		return fmt.Errorf("ledger: create table %q: %w", name, err)
	}
	w := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 100 * time.Millisecond })
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, time.Minute); err != nil {
		return fmt.Errorf("ledger: table %q not active: %w", name, err)
	}
	return nil
}

// Writes reads the lock id's Writes counter, strongly consistent.
func (l *Ledger) Writes(ctx context.Context, id string) (int64, error) {
	out, err := l.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(l.table), Key: l.key(id), ConsistentRead: aws.Bool(true),
		ProjectionExpression: aws.String("#w"), ExpressionAttributeNames: map[string]string{"#w": attrWrites},
	})
	if err != nil {
		return 0, fmt.Errorf("ledger: read %q: %w", id, err)
	}
	return num(out.Item, attrWrites)
}

// Write sets the lock id's Writes counter to read+1 and appends token to
// its log, if no write with a token as new or newer came first; else it
// returns ErrFenced.
func (l *Ledger) Write(ctx context.Context, id string, token, read int64) error {
	return l.write(ctx, id, token, "SET #w = :next", "#w", attrWrites, map[string]types.AttributeValue{":next": n(read + 1)})
}

// WriteLate is the write of a holder that paused past its lease: it
// appends token to the log and counts in Late, not Writes, if the fence
// lets it through; else it returns ErrFenced.
func (l *Ledger) WriteLate(ctx context.Context, id string, token int64) error {
	return l.write(ctx, id, token, "SET #late = if_not_exists(#late, :zero) + :one", "#late", attrLate,
		map[string]types.AttributeValue{":zero": n(0), ":one": n(1)})
}

// write sends set, which updates the attribute attr under the name
// placeholder name, with the fence and the log append.
func (l *Ledger) write(ctx context.Context, id string, token int64, set, name, attr string, values map[string]types.AttributeValue) error {
	values[":tok"] = n(token)
	values[":toks"] = &types.AttributeValueMemberL{Value: []types.AttributeValue{n(token)}}
	values[":empty"] = &types.AttributeValueMemberL{}
	_, err := l.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.table),
		Key:                       l.key(id),
		UpdateExpression:          aws.String(set + ", #last = :tok, #log = list_append(if_not_exists(#log, :empty), :toks)"),
		ConditionExpression:       aws.String("attribute_not_exists(#last) OR #last < :tok"),
		ExpressionAttributeNames:  map[string]string{name: attr, "#last": attrLastToken, "#log": attrLog},
		ExpressionAttributeValues: values,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("%w: %q, token %d", ErrFenced, id, token)
	}
	if err != nil {
		return fmt.Errorf("ledger: write %q: %w", id, err)
	}
	return nil
}

// Read returns the lock id's whole ledger item, strongly consistent.
func (l *Ledger) Read(ctx context.Context, id string) (history.LedgerState, error) {
	var s history.LedgerState
	out, err := l.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(l.table), Key: l.key(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return s, fmt.Errorf("ledger: read %q: %w", id, err)
	}
	if s.Writes, err = num(out.Item, attrWrites); err != nil {
		return s, err
	}
	if s.Late, err = num(out.Item, attrLate); err != nil {
		return s, err
	}
	if s.LastToken, err = num(out.Item, attrLastToken); err != nil {
		return s, err
	}
	if log, ok := out.Item[attrLog].(*types.AttributeValueMemberL); ok {
		for _, v := range log.Value {
			t, err := num(map[string]types.AttributeValue{"v": v}, "v")
			if err != nil {
				return s, err
			}
			s.Log = append(s.Log, t)
		}
	}
	return s, nil
}

func key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{appdata.PartitionKey: &types.AttributeValueMemberS{Value: id}}
}

func n(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func num(item map[string]types.AttributeValue, name string) (int64, error) {
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, nil
	}
	x, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("ledger: attribute %s: %w", name, err)
	}
	return x, nil
}
