// Package lockitem is the lock item's layout in DynamoDB: attribute names,
// how an item is read into a Record, and the requests that operators' tools
// share with the lock (release, force-release). It is internal so that the
// lock, the operators' package and the proofs agree on one layout.
package lockitem

import (
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute names of a lock's item beside PartitionKey and TTLAttribute.
const (
	AttrLease         = "LeaseId"       // S: random ID of the current lease
	AttrOwner         = "Owner"         // S: holder's name
	AttrToken         = "Token"         // N: fencing token of the current lease
	AttrExpiresAt     = "ExpiresAt"     // N: lease end, epoch milliseconds
	AttrAcquiredAt    = "AcquiredAt"    // N: acquire time, epoch milliseconds
	AttrHost          = "Host"          // S: holder's host, when known
	AttrRequestID     = "RequestId"     // S: holder's Lambda request ID, when known
	AttrMetadata      = "Metadata"      // M of S: holder's metadata
	AttrReleasedLease = "ReleasedLease" // S: the last lease released
	AttrReleasedAt    = "ReleasedAt"    // N: when it was released, epoch milliseconds
	AttrReleasedBy    = "ReleasedBy"    // S: who forced the last release, for audit
	AttrReleaseReason = "ReleaseReason" // S: why it was forced
	AttrForcedLease   = "ForcedLease"   // S: the last lease an operator released
	AttrForceCount    = "ForceCount"    // N: how many leases operators have released

	// A claim's (Client.Claim) completion.
	AttrCompletedLease = "CompletedLease" // S: the lease that completed it
	AttrCompletedAt    = "CompletedAt"    // N: when, epoch milliseconds
	AttrDoneUntil      = "DoneUntil"      // N: until when it answers duplicates, epoch milliseconds
	AttrResult         = "Result"         // B: the stored result
	AttrPayloadHash    = "PayloadHash"    // S: hex SHA-256 of the claim's payload
)

// PartitionKey is the lock table's partition key attribute (type S), and
// TTLAttribute its TTL attribute (type N, epoch seconds), as the original
// DynaLock's table declares them.
const (
	PartitionKey = "LockId"
	TTLAttribute = "TTL"
)

// Holder describes who holds a lock, as stored in its item. lock.Holder has
// the same fields.
type Holder struct {
	Owner      string
	LeaseID    string
	Host       string
	RequestID  string
	Token      int64
	AcquiredAt time.Time
	ExpiresAt  time.Time
}

// Record is everything stored for one lock, as operators see it.
type Record struct {
	LockID string
	Holder
	Metadata map[string]string
	// Released is true when the current lease was released.
	Released bool
	// Forced is true when the current lease was released by an operator,
	// not its holder; ReleasedBy and ReleaseReason say who and why.
	Forced        bool
	ReleasedAt    time.Time
	ReleasedBy    string
	ReleaseReason string
	// CleanupAt is the item's TTL: when DynamoDB may delete it.
	CleanupAt time.Time
	// ForcedLease is the last lease an operator released, and ForceCount
	// how many leases operators have released, since the item was created.
	// A holder's release compares them with what it saw at its acquire to
	// tell an operator's release of its lease from its own.
	ForcedLease string
	ForceCount  int64
	// For claims (lock.Client.Claim): the lease that completed the work, when,
	// until when the completion answers duplicates, the stored result, and
	// the hash of the claim's payload.
	CompletedLease         string
	CompletedAt, DoneUntil time.Time
	Result                 []byte
	PayloadHash            string
}

// Held reports whether the record's lease is held at now: not released and
// not ended.
func (r Record) Held(now time.Time) bool {
	return r.LeaseID != "" && !r.Released && now.Before(r.ExpiresAt)
}

// Parse decodes a lock item as read from the seed's table (Default).
func Parse(item map[string]types.AttributeValue) (Record, error) { return Default.Parse(item) }

// parse decodes a lock item of lock ID id whose TTL is on ttlAttr.
func parse(item map[string]types.AttributeValue, id, ttlAttr string) (Record, error) {
	var r Record
	var err error
	r.LockID = id
	r.Owner = str(item, AttrOwner)
	r.LeaseID = str(item, AttrLease)
	r.Host = str(item, AttrHost)
	r.RequestID = str(item, AttrRequestID)
	r.ReleasedBy = str(item, AttrReleasedBy)
	r.ReleaseReason = str(item, AttrReleaseReason)
	r.Released = r.LeaseID != "" && str(item, AttrReleasedLease) == r.LeaseID
	r.ForcedLease = str(item, AttrForcedLease)
	r.CompletedLease = str(item, AttrCompletedLease)
	r.PayloadHash = str(item, AttrPayloadHash)
	if b, ok := item[AttrResult].(*types.AttributeValueMemberB); ok {
		r.Result = b.Value
	}
	r.Forced = r.Released && r.ForcedLease == r.LeaseID
	if r.Token, err = num(item, AttrToken); err != nil {
		return r, err
	}
	if r.ForceCount, err = num(item, AttrForceCount); err != nil {
		return r, err
	}
	for _, f := range []struct {
		attr string
		dst  *time.Time
		unit time.Duration
	}{
		{AttrAcquiredAt, &r.AcquiredAt, time.Millisecond},
		{AttrExpiresAt, &r.ExpiresAt, time.Millisecond},
		{AttrReleasedAt, &r.ReleasedAt, time.Millisecond},
		{AttrCompletedAt, &r.CompletedAt, time.Millisecond},
		{AttrDoneUntil, &r.DoneUntil, time.Millisecond},
		{ttlAttr, &r.CleanupAt, time.Second},
	} {
		n, err := num(item, f.attr)
		if err != nil {
			return r, err
		}
		if n != 0 {
			*f.dst = time.UnixMilli(n * int64(f.unit/time.Millisecond))
		}
	}
	if m, ok := item[AttrMetadata].(*types.AttributeValueMemberM); ok {
		r.Metadata = make(map[string]string, len(m.Value))
		for k, v := range m.Value {
			if s, ok := v.(*types.AttributeValueMemberS); ok {
				r.Metadata[k] = s.Value
			}
		}
	}
	return r, nil
}

func str(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func num(item map[string]types.AttributeValue, name string) (int64, error) {
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, nil
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("lock: attribute %s: %w", name, err)
	}
	return n, nil
}

func S(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func N(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func Key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{PartitionKey: S(id)}
}

// CleanupAt is the TTL attribute's value for a lease ending at end: whole
// epoch seconds, rounded up, plus the retention.
func CleanupAt(end time.Time, retention time.Duration) int64 {
	return (end.Add(retention).UnixMilli() + 999) / 1000
}

// MaxIDBytes is DynamoDB's limit on a partition key's size.
const MaxIDBytes = 2048

// CheckID reports why id cannot be a lock ID, or nil: it must not be
// empty, must be valid UTF-8 (DynamoDB would store other bytes as U+FFFD,
// so two IDs could name one lock) and at most MaxIDBytes long.
func CheckID(id string) error {
	switch {
	case id == "":
		return errors.New("empty lock ID")
	case len(id) > MaxIDBytes:
		return fmt.Errorf("lock ID of %d bytes is longer than DynamoDB's %d-byte key limit", len(id), MaxIDBytes)
	case !utf8.ValidString(id):
		return fmt.Errorf("lock ID %q is not valid UTF-8", id)
	}
	return nil
}
