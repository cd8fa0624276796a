package lock_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/internal/dynamotest"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/lock"
)

// appTable creates an application table keyed by pk (S) for Write's tests;
// in the shared table's shape it is the lock table itself.
func (e *env) appTable() string {
	e.t.Helper()
	if shape.IsShared() {
		return e.table
	}
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
		Key:                       shape.AppKey(pk),
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
		Key: shape.AppKey(pk),
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
// lock (Write), and with Complete releases it in the same transaction.
func TestWrite(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// before runs between the acquire and the write.
		before    func(e *env, l *lock.Lease)
		release   bool // Complete, not Write
		below     int
		wantErr   error
		wantN     int
		wantHeld  bool // the lease still holds the lock afterwards
		wantCount int  // TransactWriteItems requests
	}{
		{name: "held", wantN: 1, wantHeld: true},
		{name: "held, and release", release: true, wantN: 1},
		{name: "force-released", before: func(e *env, l *lock.Lease) { e.forceRelease(l.LockID()) }, wantErr: lock.ErrLockLost},
		{name: "force-released, with release", before: func(e *env, l *lock.Lease) { e.forceRelease(l.LockID()) },
			release: true, wantErr: lock.ErrLockLost},
		{name: "taken over after the lease's end", before: func(e *env, l *lock.Lease) {
			time.Sleep(time.Until(l.Deadline()) + 200*time.Millisecond)
			if _, err := e.otherClient(lock.Config{}).Lock(l.LockID()).Acquire(context.Background()); err != nil {
				e.t.Fatal(err)
			}
		}, wantErr: lock.ErrLockLost},
		{name: "past the deadline, nobody took over", before: func(e *env, l *lock.Lease) {
			time.Sleep(time.Until(l.Deadline()) + 200*time.Millisecond)
		}, wantN: 1, wantHeld: false},
		{name: "the caller's condition fails", below: 1, before: func(e *env, l *lock.Lease) {}, wantErr: lock.ErrWriteConditionFailed, wantHeld: true},
		{name: "the caller's condition fails, with release", below: 1, release: true, wantErr: lock.ErrWriteConditionFailed, wantHeld: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			app := e.appTable()
			id := "write"
			l, err := e.client(lock.Config{TTL: time.Second}).Lock(id).Acquire(ctx)
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
			if tt.release {
				err = l.Complete(ctx, nil, add(app, "a", tt.below))
			} else {
				err = l.Write(ctx, add(app, "a", tt.below))
			}
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Write: %v, want %v", err, tt.wantErr)
			}
			if want := fmt.Sprintf("write 0 (table %q)", app); errors.Is(err, lock.ErrWriteConditionFailed) && !strings.Contains(err.Error(), want) {
				t.Errorf("condition error %q does not name item 0 of %q", err, app)
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
			if tt.release && tt.wantErr == nil {
				if _, err := e.otherClient(lock.Config{}).Lock(id).Acquire(ctx); err != nil {
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
			l, err := e.client(lock.Config{TTL: time.Minute}).Lock("lost-write").Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			e.net.Rule = func(r httpfault.Request) httpfault.Action {
				if r.Op == "TransactWriteItems" && r.N == 1 {
					return httpfault.Action{Kind: httpfault.DropResponse}
				}
				return httpfault.Action{}
			}
			if release {
				err = l.Complete(ctx, nil, add(app, "a", 0))
			} else {
				err = l.Write(ctx, add(app, "a", 0))
			}
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

// TestWriteBadInput: what Write and Complete cannot do is refused before
// any request.
func TestWriteBadInput(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := e.client(lock.Config{})
	l, err := c.Lock("write-input").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	two, err := c.Lock("write-input-2", "write-input-3").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer two.Release(ctx)
	// DynamoDB's 100 actions per transaction, less one per lock.
	const maxWriteItems = 99
	many := make([]dtypes.TransactWriteItem, maxWriteItems+1)
	e.net.Reset()
	for name, call := range map[string]func() error{
		"no items":                              func() error { return l.Write(ctx) },
		"too many items":                        func() error { return l.Write(ctx, many...) },
		"too many items to complete":            func() error { return l.Complete(ctx, nil, many...) },
		"too many items for a lease of two IDs": func() error { return two.Write(ctx, many[:maxWriteItems]...) },
	} {
		if err := call(); !errors.Is(err, lock.ErrInvalidInput) {
			t.Errorf("%s: %v, want ErrInvalidInput", name, err)
		}
	}
	if n := e.net.Total(); n != 0 {
		t.Errorf("%d requests sent for bad input", n)
	}
}
