package lock

import (
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute names of a lock's item beside PartitionKey and TTLAttribute.
// Operators' tools read them; see Record.
const (
	attrLease         = "LeaseId"       // S: random ID of the current lease
	attrOwner         = "Owner"         // S: holder's name
	attrToken         = "Token"         // N: fencing token of the current lease
	attrExpiresAt     = "ExpiresAt"     // N: lease end, epoch milliseconds
	attrAcquiredAt    = "AcquiredAt"    // N: acquire time, epoch milliseconds
	attrHost          = "Host"          // S: holder's host, when known
	attrRequestID     = "RequestId"     // S: holder's Lambda request ID, when known
	attrMetadata      = "Metadata"      // M of S: holder's metadata
	attrReleasedLease = "ReleasedLease" // S: the last lease released
	attrReleasedAt    = "ReleasedAt"    // N: when it was released, epoch milliseconds
	attrReleasedBy    = "ReleasedBy"    // S: who forced the last release, for audit
	attrReleaseReason = "ReleaseReason" // S: why it was forced
	attrForcedLease   = "ForcedLease"   // S: the last lease an operator released
	attrForceCount    = "ForceCount"    // N: how many leases operators have released

	// A claim's (Client.Claim) completion.
	attrCompletedLease = "CompletedLease" // S: the lease that completed it
	attrCompletedAt    = "CompletedAt"    // N: when, epoch milliseconds
	attrDoneUntil      = "DoneUntil"      // N: until when it answers duplicates, epoch milliseconds
	attrResult         = "Result"         // B: the stored result
	attrPayloadHash    = "PayloadHash"    // S: hex SHA-256 of the claim's payload
)

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
	// For claims (Client.Claim): the lease that completed the work, when,
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

// ParseRecord decodes a lock item as read from the table.
func ParseRecord(item map[string]types.AttributeValue) (Record, error) {
	var r Record
	var err error
	r.LockID = str(item, PartitionKey)
	if r.LockID == "" {
		return r, fmt.Errorf("lock: item has no %s", PartitionKey)
	}
	r.Owner = str(item, attrOwner)
	r.LeaseID = str(item, attrLease)
	r.Host = str(item, attrHost)
	r.RequestID = str(item, attrRequestID)
	r.ReleasedBy = str(item, attrReleasedBy)
	r.ReleaseReason = str(item, attrReleaseReason)
	r.Released = r.LeaseID != "" && str(item, attrReleasedLease) == r.LeaseID
	r.ForcedLease = str(item, attrForcedLease)
	r.CompletedLease = str(item, attrCompletedLease)
	r.PayloadHash = str(item, attrPayloadHash)
	if b, ok := item[attrResult].(*types.AttributeValueMemberB); ok {
		r.Result = b.Value
	}
	r.Forced = r.Released && r.ForcedLease == r.LeaseID
	if r.Token, err = num(item, attrToken); err != nil {
		return r, err
	}
	if r.ForceCount, err = num(item, attrForceCount); err != nil {
		return r, err
	}
	for _, f := range []struct {
		attr string
		dst  *time.Time
		unit time.Duration
	}{
		{attrAcquiredAt, &r.AcquiredAt, time.Millisecond},
		{attrExpiresAt, &r.ExpiresAt, time.Millisecond},
		{attrReleasedAt, &r.ReleasedAt, time.Millisecond},
		{attrCompletedAt, &r.CompletedAt, time.Millisecond},
		{attrDoneUntil, &r.DoneUntil, time.Millisecond},
		{TTLAttribute, &r.CleanupAt, time.Second},
	} {
		n, err := num(item, f.attr)
		if err != nil {
			return r, err
		}
		if n != 0 {
			*f.dst = time.UnixMilli(n * int64(f.unit/time.Millisecond))
		}
	}
	if m, ok := item[attrMetadata].(*types.AttributeValueMemberM); ok {
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

func sAttr(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func nAttr(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func keyOf(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{PartitionKey: sAttr(id)}
}

// cleanupAt is the TTL attribute's value for a lease ending at end: whole
// epoch seconds, rounded up, plus the retention.
func cleanupAt(end time.Time, retention time.Duration) int64 {
	return (end.Add(retention).UnixMilli() + 999) / 1000
}
