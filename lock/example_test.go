package lock_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
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

// The original DynaLock's third example: handling the three errors. Here
// another worker holds the lock, so it cannot be acquired.
func Example_errorHandling() {
	ctx := context.Background()
	cfg := lock.Config{TableName: "my_lock_table", Region: "us-west-2", LockID: "api_lock_err"}
	other, err := lock.New(ctx, lock.Config{TableName: cfg.TableName, Region: cfg.Region, LockID: cfg.LockID, Owner: "worker-1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	held, err := other.Acquire(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer held.Release(ctx)

	dl, err := lock.New(ctx, cfg)
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
	if errors.Is(err, lock.ErrLockRelease) {
		// The code ran; the lock ends by itself when its TTL passes.
		fmt.Println("Failed to release lock")
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
		err := dl.Do(ctx, func(ctx context.Context) error {
			lease, _ := lock.FromContext(ctx)
			tokens = append(tokens, lease.FencingToken())
			return nil
		})
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Println("second token is greater:", tokens[1] > tokens[0])
	// Output: second token is greater: true
}

// A Client serves every lock ID of a table over one DynamoDB client, as a
// service or a Lambda function keeps it; Lock names the lock of one ID.
func ExampleClient_Lock() {
	ctx := context.Background()
	locks, err := lock.NewClient(ctx, lock.Config{TableName: "my_lock_table", TTL: 30 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	err = locks.Lock("order/42").Do(ctx, func(ctx context.Context) error {
		lease, _ := lock.FromContext(ctx)
		fmt.Println("holding", lease.LockID())
		return nil
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output: holding order/42
}

// A lock of several IDs is taken all or none, in one round trip of wall
// time; callers naming the same IDs in any order cannot deadlock. One
// lease holds them all, with a fencing token per ID.
func ExampleClient_Lock_severalIDs() {
	ctx := context.Background()
	locks, err := lock.NewClient(ctx, lock.Config{TableName: "my_lock_table"})
	if err != nil {
		fmt.Println(err)
		return
	}
	err = locks.Lock("account/2", "account/1").Do(ctx, func(ctx context.Context) error {
		lease, _ := lock.FromContext(ctx)
		for _, id := range slices.Sorted(maps.Keys(lease.Tokens())) {
			fmt.Println("holding", id)
		}
		return nil
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// holding account/1
	// holding account/2
}

// A lease may outlive one function call: Acquire it, and Release it when
// done. Here a worker waits up to five seconds for a job's lock, which
// another holds for a moment.
func ExampleLock_Acquire() {
	ctx := context.Background()
	locks, err := lock.NewClient(ctx, lock.Config{TableName: "my_lock_table"})
	if err != nil {
		fmt.Println(err)
		return
	}
	job := locks.Lock("job/nightly")
	other, err := job.Acquire(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		_ = other.Release(ctx)
	}()

	lease, err := job.Acquire(ctx, lock.WithWait(5*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lease.Release(ctx)
	fmt.Println("holding", lease.LockID(), "- token above the last holder's:", lease.FencingToken() > other.FencingToken())
	// Output: holding job/nightly - token above the last holder's: true
}

// Write applies an application's writes only while the lease holds the
// lock, in one transaction with that check: no token attribute is needed
// in the application's items, DynamoDB checks the lease itself. The lock
// stays held.
func ExampleLease_Write() {
	ctx := context.Background()
	locks, err := lock.NewClient(ctx, lock.Config{TableName: "my_lock_table"})
	if err != nil {
		fmt.Println(err)
		return
	}
	lease, err := locks.Lock("account/acct-1").Acquire(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lease.Release(ctx)
	deposit := types.TransactWriteItem{Update: &types.Update{
		TableName:                 aws.String("accounts"),
		Key:                       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "acct-1"}},
		UpdateExpression:          aws.String("ADD balance :amount"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":amount": &types.AttributeValueMemberN{Value: "25"}},
	}}
	if err := lease.Write(ctx, deposit); err != nil {
		if errors.Is(err, lock.ErrLockLost) {
			fmt.Println("the lock was lost: nothing was written")
		}
		fmt.Println(err)
		return
	}
	fmt.Println("deposited, under the lock")
	// Output: deposited, under the lock
}

// Complete applies the last writes and releases the lock in the same
// transaction: acquire and complete are the whole critical section's two
// requests.
func ExampleLease_Complete() {
	ctx := context.Background()
	locks, err := lock.NewClient(ctx, lock.Config{TableName: "my_lock_table"})
	if err != nil {
		fmt.Println(err)
		return
	}
	lease, err := locks.Lock("account/acct-3").Acquire(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	deposit := types.TransactWriteItem{Update: &types.Update{
		TableName:                 aws.String("accounts"),
		Key:                       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "acct-3"}},
		UpdateExpression:          aws.String("ADD balance :amount"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":amount": &types.AttributeValueMemberN{Value: "10"}},
	}}
	if err := lease.Complete(ctx, nil, deposit); err != nil {
		// Nothing was written. The lock is still held unless it was lost.
		_ = lease.Release(ctx)
		fmt.Println(err)
		return
	}
	fmt.Println("deposited, and the lock released in the same request")
	// Output: deposited, and the lock released in the same request
}

// Claim does a unit of work once however often it is delivered, such as an
// SQS message: the first delivery takes the claim, then the lock of the
// account it changes, joined to it, and Complete stores the result,
// applies the deposit and releases both in one transaction. A duplicate
// gets the stored result instead.
func ExampleClient_Claim() {
	ctx := context.Background()
	locks, err := lock.NewClient(ctx, lock.Config{TableName: "my_lock_table"})
	if err != nil {
		fmt.Println(err)
		return
	}
	messageID := fmt.Sprint(time.Now().UnixNano()) // an SQS message's ID, say
	body := []byte(`{"account":"acct-2","amount":5}`)
	handle := func() (string, error) {
		claim, err := locks.Claim(ctx, "message/"+messageID, body)
		if err != nil {
			return "", err // a delivery in progress holds it, or DynamoDB failed: retry later
		}
		if claim.Done {
			return "a duplicate, answered with " + string(claim.Result), nil
		}
		account, err := locks.Lock("account/acct-2").Acquire(ctx)
		if err != nil {
			_ = claim.Lease.Release(ctx)
			return "", err
		}
		if claim.Lease, err = lock.Join(claim.Lease, account); err != nil {
			return "", err
		}
		deposit := types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String("accounts"),
			Key:                       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "acct-2"}},
			UpdateExpression:          aws.String("ADD balance :amount"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":amount": &types.AttributeValueMemberN{Value: "5"}},
		}}
		if err := claim.Lease.Complete(ctx, []byte("receipt-1"), deposit); err != nil {
			_ = claim.Lease.Release(ctx) // let a retry do the work
			return "", err
		}
		return "deposited", nil
	}
	for range 2 {
		out, err := handle()
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(out)
	}
	// Output:
	// deposited
	// a duplicate, answered with receipt-1
}
