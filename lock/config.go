package lock

import (
	"context"
	"time"

	"github.com/dynalock/dynalock/internal/lockitem"
)

// Config configures a lock client. The first four fields are the original
// DynaLock's constructor arguments: one table, one region, one lock ID,
// one TTL. The zero value of every other field is its default.
type Config struct {
	// TableName is the lock table's name. Required.
	TableName string
	// Region overrides the region of the AWS SDK's default chain when
	// DynamoDB is nil. A region is needed from one or the other.
	Region string
	// LockID names the lock New returns: not empty, valid UTF-8, at most
	// 2048 bytes (DynamoDB's key limit). NewClient refuses it: a Client
	// serves every lock ID (Client.Lock).
	LockID string
	// TTL is the lease length: how long a lock stays held if its holder
	// neither releases nor extends it. Zero means DefaultTTL, 60 s. It must
	// be whole milliseconds and at least twice ClockSkewTolerance.
	TTL time.Duration

	// DynamoDB is the client the lock sends its requests with. Nil builds
	// one from the AWS SDK's default chain (environment variables such as
	// AWS_REGION and AWS_ENDPOINT_URL_DYNAMODB, shared config files, IAM
	// roles) and Region. Share one *dynamodb.Client between the locks and
	// your own tables by passing it here.
	DynamoDB DynamoDBAPI
	// Owner names the holder in the lock's item, for operators and for
	// HeldError. Empty means the Lambda function's name and log stream, or
	// else the host name and process ID.
	Owner string
	// Metadata is stored in the lock's item while it is held (attribute
	// Metadata). Empty means none.
	Metadata map[string]string
	// Heartbeat, when not zero, makes Do extend the lease every Heartbeat
	// while fn runs, so that fn may run longer than the TTL; fn's context
	// is cancelled, with a cause matching ErrLockLost, if an extension
	// finds the lock lost or none succeeds before the lease ends. A third
	// of the TTL is a good interval; at least 10 ms. Zero means none: the
	// TTL bounds fn. Leases with a fixed end (WithLeaseEnd) have none.
	Heartbeat time.Duration
	// ClockSkewTolerance is how far apart the holders' clocks may be: a
	// holder's context ends this long before its lease does, and a waiter
	// takes a lease over only this long after it ended by the waiter's
	// clock, unless it watched the lease unchanged for its whole duration
	// by its own monotonic clock (docs/GUARANTEES.md). Zero means 1 s: a
	// twenty-fold margin over hosts synchronised by Amazon Time Sync
	// (Lambda, EC2: 1-2 ms) or public NTP (tens of ms). Every holder of one
	// lock ID must use the same tolerance.
	ClockSkewTolerance time.Duration
	// CompletionExpiry is how long a completed claim (Client.Claim,
	// Lease.Complete) answers its duplicates; after it the work may run
	// again. Zero means 24 hours, longer than SQS's and EventBridge's
	// retries of one event. It is compared with the stored completion
	// time, never left to DynamoDB's TTL.
	CompletionExpiry time.Duration
	// Now is the wall clock written to and compared with lock items. Nil
	// means time.Now. Local timers (context deadlines, heartbeats) use the
	// monotonic clock whatever Now says.
	Now func() time.Time

	// The table's shape, for locks and idempotency records kept in a table
	// of your own (single-table design). The zero values are the seed's
	// table: partition key LockId (S), no sort key, TTL on TTL. Every
	// client, CLI and operator of one table must use the same shape
	// (admin.TableFor, the CLI's --partition-key, --sort-key,
	// --sort-key-value, --partition-key-prefix and --ttl-attribute). The names may
	// be DynamoDB reserved words; they must differ from each other and
	// from the lock's own attributes (LeaseId, Token, ExpiresAt…).

	// PartitionKey is the table's partition key attribute, of type S.
	// Empty means LockId.
	PartitionKey string
	// SortKey is the table's sort key attribute, of type S, if it has
	// one; every lock item carries SortKeyValue in it (such as "LOCK"),
	// beside the application's items of the same partition key value.
	// Both or neither must be set.
	SortKey, SortKeyValue string
	// PartitionKeyPrefix is prepended to every lock ID to make its item's
	// partition key value (with "lock#", the lock "sku/42" is the item
	// "lock#sku/42"); errors, leases and admin.Record name the lock ID
	// without it. It keeps lock items apart from the application's items
	// in a table without a sort key, and lets an IAM grant scope a
	// function to lock items with dynamodb:LeadingKeys ("lock#sku/*").
	// It counts toward DynamoDB's 2048-byte key limit. Empty means none.
	PartitionKeyPrefix string
	// TTLAttribute is the attribute DynamoDB's TTL deletes items by
	// (type N, epoch seconds), where the lock writes each item's clean-up
	// time: that of a table whose TTL is on already. Empty means TTL.
	TTLAttribute string
}

// shape returns where the lock items of cfg sit in the table, resolved.
func (cfg Config) shape() lockitem.Shape {
	return lockitem.Shape{
		PartitionKey: cfg.PartitionKey, SortKey: cfg.SortKey, SortKeyValue: cfg.SortKeyValue,
		Prefix: cfg.PartitionKeyPrefix, TTLAttribute: cfg.TTLAttribute,
	}.Resolved()
}

// options returns the settings of cfg, defaults filled in.
func (cfg Config) options() options {
	o := defaultOptions()
	if cfg.TTL != 0 {
		o.TTL = cfg.TTL
	}
	if cfg.Owner != "" {
		o.Owner = cfg.Owner
	}
	if len(cfg.Metadata) > 0 {
		o.Metadata = make(map[string]string, len(cfg.Metadata))
		for k, v := range cfg.Metadata {
			o.Metadata[k] = v
		}
	}
	o.Heartbeat = cfg.Heartbeat
	if cfg.ClockSkewTolerance != 0 {
		o.Skew = cfg.ClockSkewTolerance
	}
	if cfg.CompletionExpiry != 0 {
		o.CompletionExpiry = cfg.CompletionExpiry
	}
	if cfg.Now != nil {
		o.Now = cfg.Now
	}
	return o
}

// New returns the lock cfg.LockID in the table cfg.TableName: the Go form
// of the original DynaLock object. It sends no request. Without
// cfg.DynamoDB and with no region from cfg.Region or the environment, it
// fails with ErrInvalidInput.
func New(ctx context.Context, cfg Config) (*Lock, error) {
	if err := validateLockID(cfg.LockID); err != nil {
		return nil, err
	}
	id := cfg.LockID
	cfg.LockID = ""
	c, err := NewClient(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := c.shape.CheckID(id); err != nil {
		return nil, invalid("%v", err) // too long with the prefix
	}
	return c.Lock(id), nil
}

// NewClient returns a Client for every lock ID in the table
// cfg.TableName. It sends no request. cfg.LockID must be empty: name locks
// with Client.Lock.
func NewClient(ctx context.Context, cfg Config) (*Client, error) {
	switch {
	case cfg.TableName == "":
		return nil, invalid("empty table name")
	case cfg.LockID != "":
		return nil, invalid("Config.LockID %q given to NewClient: a Client serves every lock ID; use lock.New for one lock, or Client.Lock", cfg.LockID)
	case cfg.TTL < 0 || cfg.ClockSkewTolerance < 0 || cfg.CompletionExpiry < 0:
		return nil, invalid("TTL, clock-skew tolerance and completion expiry must not be negative")
	}
	o := cfg.options()
	if err := validate(o); err != nil {
		return nil, err
	}
	shape := cfg.shape()
	if err := shape.Check(); err != nil {
		return nil, invalid("table shape: %v", err)
	}
	db := cfg.DynamoDB
	if db == nil {
		var err error
		if db, err = newDynamoDBClient(ctx, cfg.Region); err != nil {
			return nil, err
		}
	}
	cfg.DynamoDB = db
	cfg.TTL, cfg.Owner, cfg.ClockSkewTolerance, cfg.CompletionExpiry, cfg.Now = o.TTL, o.Owner, o.Skew, o.CompletionExpiry, o.Now
	cfg.Metadata = o.Metadata
	cfg.PartitionKey, cfg.TTLAttribute = shape.PartitionKey, shape.TTLAttribute
	return &Client{db: db, table: cfg.TableName, opts: o, cfg: cfg, host: hostName(), shape: shape}, nil
}

// Config returns the client's configuration with its defaults filled in:
// the TTL, owner, clock-skew tolerance and completion expiry it uses, the
// table's key and TTL attributes, and the DynamoDB client it sends with.
func (c *Client) Config() Config {
	cfg := c.cfg
	if cfg.Metadata != nil {
		m := make(map[string]string, len(cfg.Metadata))
		for k, v := range cfg.Metadata {
			m[k] = v
		}
		cfg.Metadata = m
	}
	return cfg
}
