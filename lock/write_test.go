package lock_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/internal/dynamotest"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/lock"
)

// appTable creates an application table keyed by pk (S) for Write's tests.
func (e *env) appTable() string {
	e.t.Helper()
	name := dynamotest.TableName(e.t) + "-app"
	if err := createAppTable(srv.Client(), name); err != nil {
		e.t.Fatal(err)
	}
	return name
}

// add is an application write: n = n + 1 on item pk, optionally only while
// n is below max.
func add(table, pk string, below int) dtypes.TransactWriteItem {
	u := &dtypes.Update{
		TableName:                 aws.String(table),
		Key:                       map[string]dtypes.AttributeValue{"pk": &dtypes.AttributeValueMemberS{Value: pk}},
		UpdateExpression:          aws.String("ADD n :one"),
		ExpressionAttributeValues: map[string]dtypes.AttributeValue{":one": &dtypes.AttributeValueMemberN{Value: "1"}},
	}
	if below > 0 {
		u.ConditionExpression = aws.String("attribute_not_exists(n) OR n < :max")
		u.ExpressionAttributeValues[":max"] = &dtypes.AttributeValueMemberN{Value: strconv.Itoa(below)}
		u.ReturnValuesOnConditionCheckFailure = dtypes.ReturnValuesOnConditionCheckFailureAllOld
	}
	return dtypes.TransactWriteItem{Update: u}
}

// count reads n of item pk.
func (e *env) count(table, pk string) int {
	e.t.Helper()
	out, err := srv.Client().GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]dtypes.AttributeValue{"pk": &dtypes.AttributeValueMemberS{Value: pk}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	v, ok := out.Item["n"].(*dtypes.AttributeValueMemberN)
	if !ok {
		return 0
	}
	n, _ := strconv.Atoi(v.Value)
	return n
}

// TestWrite: a lease applies the caller's writes only while it holds the
// lock, and optionally releases it in the same transaction.
func TestWrite(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// before runs between the acquire and the write.
		before    func(e *env, l *lock.Lease)
		opts      []lock.WriteOption
		below     int
		wantErr   error
		wantN     int
		wantHeld  bool // the lease still holds the lock afterwards
		wantCount int  // TransactWriteItems requests
	}{
		{name: "held", wantN: 1, wantHeld: true},
		{name: "held, and release", opts: []lock.WriteOption{lock.AndRelease()}, wantN: 1},
		{name: "force-released", before: func(e *env, l *lock.Lease) { e.forceRelease(l.LockID()) }, wantErr: lock.ErrLockLost},
		{name: "force-released, with release", before: func(e *env, l *lock.Lease) { e.forceRelease(l.LockID()) },
			opts: []lock.WriteOption{lock.AndRelease()}, wantErr: lock.ErrLockLost},
		{name: "taken over after the lease's end", before: func(e *env, l *lock.Lease) {
			time.Sleep(time.Until(l.Deadline()) + 200*time.Millisecond)
			if _, err := e.otherClient().TryAcquire(context.Background(), l.LockID()); err != nil {
				e.t.Fatal(err)
			}
		}, wantErr: lock.ErrLockLost},
		{name: "past the deadline, nobody took over", before: func(e *env, l *lock.Lease) {
			time.Sleep(time.Until(l.Deadline()) + 200*time.Millisecond)
		}, wantN: 1, wantHeld: false},
		{name: "the caller's condition fails", below: 1, before: func(e *env, l *lock.Lease) {}, wantErr: lock.ErrWriteConditionFailed, wantHeld: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			app := e.appTable()
			id := "write"
			l, err := e.client(lock.WithTTL(time.Second)).TryAcquire(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if tt.below > 0 { // the item is already at its limit
				if _, err := srv.Client().TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []dtypes.TransactWriteItem{add(app, "a", 0)}}); err != nil {
					t.Fatal(err)
				}
			}
			if tt.before != nil {
				tt.before(e, l)
			}
			before := e.count(app, "a")
			e.net.Reset()
			err = l.Write(ctx, []dtypes.TransactWriteItem{add(app, "a", tt.below)}, tt.opts...)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Write: %v, want %v", err, tt.wantErr)
			}
			var ce *lock.WriteConditionError
			if errors.As(err, &ce) && (ce.Index != 0 || ce.Table != app || ce.Item == nil) {
				t.Errorf("condition error %+v does not name item 0 of %q with its old value", ce, app)
			}
			if got := e.count(app, "a") - before; got != tt.wantN {
				t.Errorf("the write was applied %d times, want %d", got, tt.wantN)
			}
			if n := e.net.Count("TransactWriteItems"); n != 1 || e.net.Total() != 1 {
				t.Errorf("%d requests (%d TransactWriteItems), want one transaction", e.net.Total(), n)
			}
			r := e.record(id)
			if held := r.LeaseID == l.LeaseID() && !r.Released; held != (tt.wantHeld || tt.name == "past the deadline, nobody took over") {
				t.Errorf("after the write the item is %+v", r)
			}
			if len(tt.opts) > 0 && tt.wantErr == nil {
				if _, err := e.otherClient().TryAcquire(ctx, id); err != nil {
					t.Errorf("the lock is not free after a write that released it: %v", err)
				}
				if err := l.Release(ctx); err != nil {
					t.Errorf("Release after a releasing write: %v", err)
				}
			}
		})
	}
}

// TestWriteLostAnswer: the transaction is applied and its answer lost; the
// SDK's retry (same ClientRequestToken) applies nothing twice and reports
// success, with and without the release in it.
func TestWriteLostAnswer(t *testing.T) {
	ctx := context.Background()
	for _, release := range []bool{false, true} {
		t.Run("release="+strconv.FormatBool(release), func(t *testing.T) {
			e := newEnv(t)
			app := e.appTable()
			l, err := e.client(lock.WithTTL(time.Minute)).TryAcquire(ctx, "lost-write")
			if err != nil {
				t.Fatal(err)
			}
			e.net.Rule = func(r httpfault.Request) httpfault.Action {
				if r.Op == "TransactWriteItems" && r.N == 1 {
					return httpfault.Action{Kind: httpfault.DropResponse}
				}
				return httpfault.Action{}
			}
			var opts []lock.WriteOption
			if release {
				opts = append(opts, lock.AndRelease())
			}
			err = l.Write(ctx, []dtypes.TransactWriteItem{add(app, "a", 0)}, opts...)
			e.net.Rule = nil
			if n := e.net.Count("TransactWriteItems"); n != 2 {
				t.Fatalf("%d transaction attempts, want a retry", n)
			}
			if err != nil {
				t.Errorf("Write with a lost answer: %v", err)
			}
			if got := e.count(app, "a"); got != 1 {
				t.Errorf("the write was applied %d times, want once", got)
			}
			if !release {
				_ = l.Release(ctx)
			}
		})
	}
}

// TestWriteBadInput: what Write cannot do is refused before any request.
func TestWriteBadInput(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	l, err := e.client().TryAcquire(ctx, "write-input")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	opaque, err := lock.NewClient(optionsDropped{e.db}, e.table, lock.WithClockSkewTolerance(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ol, err := opaque.TryAcquire(ctx, "write-input-2")
	if err != nil {
		t.Fatal(err)
	}
	defer ol.Release(ctx)
	many := make([]dtypes.TransactWriteItem, lock.MaxWriteItems+1)
	e.net.Reset()
	for name, call := range map[string]func() error{
		"no items":                 func() error { return l.Write(ctx, nil) },
		"too many items":           func() error { return l.Write(ctx, many) },
		"client without transacts": func() error { return ol.Write(ctx, []dtypes.TransactWriteItem{{}}) },
	} {
		if err := call(); !errors.Is(err, lock.ErrInvalidInput) {
			t.Errorf("%s: %v, want ErrInvalidInput", name, err)
		}
	}
	if n := e.net.Total(); n != 0 {
		t.Errorf("%d requests sent for bad input", n)
	}
}
