package lock

import (
	"context"
	"time"
)

// Config is the original DynaLock's constructor arguments: one table, one
// region, one lock ID, one TTL.
type Config struct {
	// TableName is the lock table's name. Required.
	TableName string
	// Region overrides the region of the SDK's default chain when set. New
	// needs a region from one or the other.
	Region string
	// LockID names the lock. Required; at most MaxLockIDBytes bytes.
	LockID string
	// TTL is the lease length. Zero means DefaultTTL, 60 s.
	TTL time.Duration
	// Wait is how long Do waits for a held lock. Zero means one attempt.
	Wait time.Duration
	// Options are further options (owner, metadata, heartbeat, …), applied
	// after the fields above.
	Options []Option
}

// Lock is one named lock, the Go form of the original DynaLock object.
type Lock struct {
	client *Client
	id     string
}

// New returns the lock cfg names, over the DynamoDB client of
// NewDynamoDBClient: credentials, region and endpoint come from the AWS
// SDK's default chain (environment variables, shared credentials file, IAM
// roles), cfg.Region overrides the region, and AWS_ENDPOINT_URL_DYNAMODB
// points it at another endpoint, such as DynamoDB Local. It sends no
// request. With no region from either, it fails with ErrInvalidInput.
func New(ctx context.Context, cfg Config) (*Lock, error) {
	if cfg.TableName == "" {
		return nil, invalid("empty table name")
	}
	if err := ValidateLockID(cfg.LockID); err != nil {
		return nil, err
	}
	db, err := NewDynamoDBClient(ctx, cfg.Region)
	if err != nil {
		return nil, err
	}
	return NewLock(db, cfg)
}

// NewLock is New with a DynamoDB client of the caller's; cfg.Region is
// ignored.
func NewLock(db DynamoDBAPI, cfg Config) (*Lock, error) {
	if cfg.TTL < 0 {
		return nil, invalid("negative TTL %s", cfg.TTL)
	}
	var opts []Option
	if cfg.TTL > 0 {
		opts = append(opts, WithTTL(cfg.TTL))
	}
	opts = append(opts, WithWait(cfg.Wait))
	c, err := NewClient(db, cfg.TableName, append(opts, cfg.Options...)...)
	if err != nil {
		return nil, err
	}
	if err := ValidateLockID(cfg.LockID); err != nil {
		return nil, err
	}
	return &Lock{client: c, id: cfg.LockID}, nil
}

// ID returns the lock's ID.
func (l *Lock) ID() string { return l.id }

// Do runs fn holding the lock; see Client.Do.
func (l *Lock) Do(ctx context.Context, fn func(context.Context) error, opts ...Option) error {
	return l.client.Do(ctx, l.id, fn, opts...)
}

// Acquire acquires the lock; see Client.Acquire.
func (l *Lock) Acquire(ctx context.Context, opts ...Option) (*Lease, error) {
	return l.client.Acquire(ctx, l.id, opts...)
}

// TryAcquire makes one attempt to acquire the lock; see Client.TryAcquire.
func (l *Lock) TryAcquire(ctx context.Context, opts ...Option) (*Lease, error) {
	return l.client.TryAcquire(ctx, l.id, opts...)
}
