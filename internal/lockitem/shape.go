package lockitem

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Shape is where lock items sit in their table: the key attributes' names,
// the sort key value and partition key prefix of lock items, and the TTL
// attribute. The zero value of each field is the seed's table (Default):
// partition key LockId, no sort key, TTL on TTL.
//
// In a shared table (single-table design), a sort key puts each lock item
// beside the application items of the same partition key value, under a
// sort key value of its own; a prefix keeps lock items' partition key
// values apart from the application's (and lets an IAM grant scope lock
// items with dynamodb:LeadingKeys).
type Shape struct {
	PartitionKey string // S; "" means PartitionKey (LockId)
	// SortKey is the sort key attribute (S), "" for none; every lock item
	// carries SortKeyValue in it.
	SortKey, SortKeyValue string
	// Prefix is prepended to a lock ID to make its item's partition key
	// value, and stripped when an item is read.
	Prefix       string
	TTLAttribute string // N, epoch seconds; "" means TTLAttribute (TTL)
}

// Default is the seed's table: LockId (S), no sort key, TTL on TTL.
var Default = Shape{PartitionKey: PartitionKey, TTLAttribute: TTLAttribute}

// Resolved returns s with its defaults filled in.
func (s Shape) Resolved() Shape {
	if s.PartitionKey == "" {
		s.PartitionKey = PartitionKey
	}
	if s.TTLAttribute == "" {
		s.TTLAttribute = TTLAttribute
	}
	return s
}

// MaxKeyNameBytes is DynamoDB's limit on a key attribute's name, and
// MaxSortKeyBytes on a sort key value.
const (
	MaxKeyNameBytes = 255
	MaxSortKeyBytes = 1024
)

// Check reports why s, resolved, cannot be a lock table's shape, or nil:
// names empty, too long or not valid UTF-8, two roles on one attribute
// (the key's, the TTL's, or one of the lock's own attributes), a sort key
// without a value or a value without a sort key, a prefix that leaves no
// room for a lock ID. Reserved words are fine: every expression names
// these attributes through ExpressionAttributeNames.
func (s Shape) Check() error {
	s = s.Resolved()
	roles := map[string]string{}
	for _, a := range ownAttributes {
		roles[a] = "a lock attribute"
	}
	for _, f := range []struct{ role, name string }{
		{"partition key", s.PartitionKey},
		{"sort key", s.SortKey},
		{"TTL attribute", s.TTLAttribute},
	} {
		if f.name == "" {
			continue // only the sort key may be empty once resolved
		}
		switch {
		case !utf8.ValidString(f.name):
			return fmt.Errorf("%s name %q is not valid UTF-8", f.role, f.name)
		case len(f.name) > MaxKeyNameBytes:
			return fmt.Errorf("%s name of %d bytes is longer than DynamoDB's %d-byte limit", f.role, len(f.name), MaxKeyNameBytes)
		case roles[f.name] != "":
			return fmt.Errorf("%s name %q is also %s", f.role, f.name, roles[f.name])
		}
		roles[f.name] = "the " + f.role
	}
	switch {
	case s.SortKey == "" && s.SortKeyValue != "":
		return fmt.Errorf("sort key value %q without a sort key", s.SortKeyValue)
	case s.SortKey != "" && s.SortKeyValue == "":
		return fmt.Errorf("sort key %q without the value lock items carry in it", s.SortKey)
	case !utf8.ValidString(s.SortKeyValue):
		return fmt.Errorf("sort key value %q is not valid UTF-8", s.SortKeyValue)
	case len(s.SortKeyValue) > MaxSortKeyBytes:
		return fmt.Errorf("sort key value of %d bytes is longer than DynamoDB's %d-byte limit", len(s.SortKeyValue), MaxSortKeyBytes)
	case !utf8.ValidString(s.Prefix):
		return fmt.Errorf("partition key prefix %q is not valid UTF-8", s.Prefix)
	case len(s.Prefix) >= MaxIDBytes:
		return fmt.Errorf("partition key prefix of %d bytes leaves no room for a lock ID in DynamoDB's %d-byte key", len(s.Prefix), MaxIDBytes)
	}
	return nil
}

// ownAttributes are the lock's own attribute names, which the key and TTL
// attributes must not take.
var ownAttributes = []string{
	AttrLease, AttrOwner, AttrToken, AttrExpiresAt, AttrAcquiredAt, AttrHost, AttrRequestID, AttrMetadata,
	AttrReleasedLease, AttrReleasedAt, AttrReleasedBy, AttrReleaseReason, AttrForcedLease, AttrForceCount,
	AttrCompletedLease, AttrCompletedAt, AttrDoneUntil, AttrResult, AttrPayloadHash,
	AttrForgottenLease, AttrForgottenBy, AttrForgetReason, AttrForgottenAt,
	AttrPermits, AttrHolders, AttrPermitTokens,
}

// CheckID is CheckID for the key value id makes in s: the prefix counts
// toward DynamoDB's limit.
func (s Shape) CheckID(id string) error {
	if err := CheckID(id); err != nil {
		return err
	}
	if n := len(s.Prefix) + len(id); n > MaxIDBytes {
		return fmt.Errorf("lock ID of %d bytes, with the partition key prefix %d, is longer than DynamoDB's %d-byte key limit", len(id), n, MaxIDBytes)
	}
	return nil
}

// Key is the key of lock id's item.
func (s Shape) Key(id string) map[string]types.AttributeValue {
	s = s.Resolved()
	k := map[string]types.AttributeValue{s.PartitionKey: S(s.Prefix + id)}
	if s.SortKey != "" {
		k[s.SortKey] = S(s.SortKeyValue)
	}
	return k
}

// ErrNotLockItem means an item is not a lock item of the shape: its key
// has another sort key value or lacks the prefix (an application's item
// in a shared table), or it has no partition key.
var ErrNotLockItem = errors.New("lock: not a lock item")

// Parse decodes a lock item as read from a table of shape s.
func (s Shape) Parse(item map[string]types.AttributeValue) (Record, error) {
	s = s.Resolved()
	pk := str(item, s.PartitionKey)
	id, ok := strings.CutPrefix(pk, s.Prefix)
	switch {
	case pk == "":
		return Record{}, fmt.Errorf("%w: item has no %s", ErrNotLockItem, s.PartitionKey)
	case !ok || id == "":
		return Record{}, fmt.Errorf("%w: %s %q does not start with the prefix %q", ErrNotLockItem, s.PartitionKey, pk, s.Prefix)
	case s.SortKey != "" && str(item, s.SortKey) != s.SortKeyValue:
		return Record{}, fmt.Errorf("%w: %s %q is not %q", ErrNotLockItem, s.SortKey, str(item, s.SortKey), s.SortKeyValue)
	}
	return parse(item, id, s.TTLAttribute)
}

// Describe says what the table's key must be, for error messages:
// "partition key LockId (S) and no sort key".
func (s Shape) Describe() string {
	s = s.Resolved()
	if s.SortKey == "" {
		return fmt.Sprintf("partition key %s (S) and no sort key", s.PartitionKey)
	}
	return fmt.Sprintf("partition key %s (S) and sort key %s (S)", s.PartitionKey, s.SortKey)
}

// ReleaseInput is ReleaseInput in a table of shape s.
func (s Shape) ReleaseInput(table, id, leaseID string, now time.Time, retention time.Duration) *dynamodb.UpdateItemInput {
	in := ReleaseInput(table, id, leaseID, now, retention)
	in.Key = s.Key(id)
	in.ExpressionAttributeNames["#ttl"] = s.Resolved().TTLAttribute
	return in
}

// ForceReleaseInput is ForceReleaseInput in a table of shape s.
func (s Shape) ForceReleaseInput(table, id, leaseID string, token int64, by, reason string, now time.Time) *dynamodb.UpdateItemInput {
	in := ForceReleaseInput(table, id, leaseID, token, by, reason, now)
	in.Key = s.Key(id)
	in.ExpressionAttributeNames["#ttl"] = s.Resolved().TTLAttribute
	return in
}
