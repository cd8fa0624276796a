package lock_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/lock"
)

// The original DynaLock's first example: a lock around a block of code,
// released however the block ends.
func Example() {
	ctx := context.Background()
	dl, err := lock.New(ctx, lock.Config{
		TableName: "my_lock_table",
		Region:    "us-west-2",
		LockID:    "api_lock",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	err = dl.Do(ctx, func(ctx context.Context) error {
		// Protected code goes here
		fmt.Println("This code is protected by the lock")
		fmt.Println("Critical section executed")
		return nil
	})
	if err != nil {
		fmt.Println(err)
	}
	// The lock is released after Do returns
	fmt.Println("This code is not protected by the lock")
	// Output:
	// This code is protected by the lock
	// Critical section executed
	// This code is not protected by the lock
}

// The original DynaLock's second example: a custom TTL of 120 seconds.
func Example_customTTL() {
	ctx := context.Background()
	dl, err := lock.New(ctx, lock.Config{
		TableName: "my_lock_table",
		Region:    "us-west-2",
		LockID:    "api_lock_ttl",
		TTL:       120 * time.Second,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	err = dl.Do(ctx, func(ctx context.Context) error {
		deadline, _ := ctx.Deadline()
		fmt.Println("This code is protected by the lock")
		fmt.Println("Must finish within 2 minutes:", time.Until(deadline) <= 120*time.Second)
		return nil
	})
	if err != nil {
		fmt.Println(err)
	}
	fmt.Println("This code is not protected by the lock")
	// Output:
	// This code is protected by the lock
	// Must finish within 2 minutes: true
	// This code is not protected by the lock
}

// The original DynaLock's third example: handling a lock that cannot be
// acquired. Here another worker holds it.
func Example_errorHandling() {
	ctx := context.Background()
	other, _ := lock.New(ctx, lock.Config{
		TableName: "my_lock_table", Region: "us-west-2", LockID: "api_lock_err",
		Options: []lock.Option{lock.WithOwner("worker-1")},
	})
	held, _ := other.Acquire(ctx)
	defer held.Release(ctx)

	dl, err := lock.New(ctx, lock.Config{TableName: "my_lock_table", Region: "us-west-2", LockID: "api_lock_err"})
	if err != nil {
		fmt.Println(err)
		return
	}
	err = dl.Do(ctx, func(ctx context.Context) error {
		fmt.Println("This code is protected by the lock")
		return nil
	})
	if errors.Is(err, lock.ErrLockAcquisition) {
		fmt.Println("Failed to acquire lock")
	}
	var heldErr *lock.HeldError
	if errors.As(err, &heldErr) {
		fmt.Println("Held by", heldErr.Holder.Owner, "- already acquired:", errors.Is(err, lock.ErrLockAlreadyAcquired))
	}
	// Output:
	// Failed to acquire lock
	// Held by worker-1 - already acquired: true
}

// A fencing token passed to storage lets it refuse a holder whose lease
// was taken over.
func ExampleFromContext() {
	ctx := context.Background()
	dl, err := lock.New(ctx, lock.Config{TableName: "my_lock_table", LockID: "fenced"})
	if err != nil {
		fmt.Println(err)
		return
	}
	var tokens []int64
	for range 2 {
		_ = dl.Do(ctx, func(ctx context.Context) error {
			l, _ := lock.FromContext(ctx)
			tokens = append(tokens, l.FencingToken())
			return nil
		})
	}
	fmt.Println("second token is greater:", tokens[1] > tokens[0])
	// Output: second token is greater: true
}

// A Client serves many lock IDs over one DynamoDB client: here a worker
// waits up to five seconds for an order's lock, which another holds for a
// moment.
func ExampleClient_Acquire() {
	ctx := context.Background()
	locks, err := lock.NewClient(srv.Client(), exampleTable, lock.WithTTL(30*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	other, _ := locks.TryAcquire(ctx, "order#42")
	go func() {
		time.Sleep(100 * time.Millisecond)
		_ = other.Release(context.WithoutCancel(ctx))
	}()

	lease, err := locks.Acquire(ctx, "order#42", lock.WithWait(5*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lease.Release(context.WithoutCancel(ctx))
	fmt.Println("holding", lease.LockID(), "- token above the last holder's:", lease.FencingToken() > other.FencingToken())
	// Output: holding order#42 - token above the last holder's: true
}

// DoAll takes several locks all or none, in one round trip of wall time;
// callers naming the same IDs in any order cannot deadlock.
func ExampleClient_DoAll() {
	ctx := context.Background()
	locks, err := lock.NewClient(srv.Client(), exampleTable)
	if err != nil {
		fmt.Println(err)
		return
	}
	err = locks.DoAll(ctx, []string{"account#2", "account#1"}, func(ctx context.Context) error {
		for _, l := range lock.AllFromContext(ctx) {
			fmt.Println("holding", l.LockID())
		}
		return nil
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// holding account#1
	// holding account#2
}

// A lease applies an application's write only while it holds the lock, and
// releases the lock in the same transaction: acquire and write-and-release
// are the whole critical section's two requests. No token attribute is
// needed in the application's items: DynamoDB checks the lease itself.
func ExampleLease_Write() {
	ctx := context.Background()
	locks, err := lock.NewClient(srv.Client(), exampleTable)
	if err != nil {
		fmt.Println(err)
		return
	}
	lease, err := locks.Acquire(ctx, "account/acct-1")
	if err != nil {
		fmt.Println(err)
		return
	}
	deposit := types.TransactWriteItem{Update: &types.Update{
		TableName:                 aws.String(exampleAccounts),
		Key:                       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "acct-1"}},
		UpdateExpression:          aws.String("ADD balance :amount"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":amount": &types.AttributeValueMemberN{Value: "25"}},
	}}
	if err := lease.Write(ctx, []types.TransactWriteItem{deposit}, lock.AndRelease()); err != nil {
		if errors.Is(err, lock.ErrLockLost) {
			fmt.Println("the lock was lost: nothing was written")
		}
		fmt.Println(err)
		return
	}
	fmt.Println("deposited, and the lock released in the same request")
	// Output:
	// deposited, and the lock released in the same request
}
