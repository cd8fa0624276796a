// Package rawreq builds lock requests by hand, with the AWS SDK alone and
// no DynaLock code: the smallest requests a fencing lock needs (the
// benchmarks' minimal-design floor), and DynaLock's own acquire and
// release (the cold-start function that sends them without the library).
// It must not import the lock package: what it measures is the absence of
// the library.
package rawreq

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute names of a DynaLock item (lock/item.go), which the minimal
// design shares where it has the same attribute, so that names weigh the
// same in both.
const (
	PartitionKey  = "LockId"
	TTL           = "TTL"
	Lease         = "LeaseId"
	Owner         = "Owner"
	Token         = "Token"
	ExpiresAt     = "ExpiresAt"
	AcquiredAt    = "AcquiredAt"
	Host          = "Host"
	RequestID     = "RequestId"
	Metadata      = "Metadata"
	ReleasedLease = "ReleasedLease"
	ReleasedAt    = "ReleasedAt"
	ReleasedBy    = "ReleasedBy"
	ReleaseReason = "ReleaseReason"
	ForcedLease   = "ForcedLease"
	Version       = "LeaseVersion"
	Seq           = "LeaseSeq"
	Granted       = "LeaseMs"
)

// NewID returns a random 128-bit ID in hex, like a DynaLock lease ID.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func n(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{PartitionKey: s(id)}
}

// MinimalAcquire is the smallest acquire of a fencing lock: one
// conditional UpdateItem that sets the owner (a value unique to this
// lease, so that the release can tell it from the next), the lease's end
// and the fencing counter, if the lock has no lease or its lease ended
// more than skew ago. It answers the updated attributes (UPDATED_NEW: the
// token), and the holder's item when the lock is held (ALL_OLD, free on
// success), as DynaLock's acquire does.
func MinimalAcquire(table, id, owner string, now time.Time, ttl, skew time.Duration) *dynamodb.UpdateItemInput {
	return &dynamodb.UpdateItemInput{
		TableName:           aws.String(table),
		Key:                 key(id),
		UpdateExpression:    aws.String("SET #o = :o, #e = :e, #t = if_not_exists(#t, :seed) + :one"),
		ConditionExpression: aws.String("attribute_not_exists(#e) OR #e < :now"),
		ExpressionAttributeNames: map[string]string{
			"#o": Owner, "#e": ExpiresAt, "#t": Token,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":o":    s(owner),
			":e":    n(now.Add(ttl).UnixMilli()),
			":seed": n(now.UnixMicro()),
			":one":  n(1),
			":now":  n(now.Add(-skew).UnixMilli()),
		},
		ReturnValues:                        types.ReturnValueUpdatedNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
}

// MinimalRelease is the smallest release: one conditional UpdateItem that
// ends the lease now, if owner still holds it.
func MinimalRelease(table, id, owner string) *dynamodb.UpdateItemInput {
	return &dynamodb.UpdateItemInput{
		TableName:                           aws.String(table),
		Key:                                 key(id),
		UpdateExpression:                    aws.String("SET #e = :zero"),
		ConditionExpression:                 aws.String("#o = :o"),
		ExpressionAttributeNames:            map[string]string{"#o": Owner, "#e": ExpiresAt},
		ExpressionAttributeValues:           map[string]types.AttributeValue{":o": s(owner), ":zero": n(0)},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
}

// TokenOf returns the fencing token in an acquire's answer.
func TokenOf(attrs map[string]types.AttributeValue) (int64, error) {
	v, ok := attrs[Token].(*types.AttributeValueMemberN)
	if !ok {
		return 0, errors.New("rawreq: no token in the answer")
	}
	return strconv.ParseInt(v.Value, 10, 64)
}

// Acquire is DynaLock's acquire request (lock/requests.go) written out by
// hand, for a lease without metadata that is not a claim. The bench's
// tests check that it sends what the lock sends.
type Acquire struct {
	Table, ID, LeaseID, Owner string
	// Host and RequestID are stored when not empty, and removed otherwise.
	Host, RequestID string
	Now             time.Time
	TTL, Skew       time.Duration
	Retention       time.Duration
}

// Input returns the request.
func (a Acquire) Input() *dynamodb.UpdateItemInput {
	names := map[string]string{
		"#id": PartitionKey, "#ttl": TTL, "#lease": Lease, "#owner": Owner,
		"#tok": Token, "#exp": ExpiresAt, "#acq": AcquiredAt, "#rel": ReleasedLease,
		"#host": Host, "#req": RequestID, "#meta": Metadata, "#forced": ForcedLease,
		"#ver": Version, "#seq": Seq, "#granted": Granted,
	}
	end := ceilMilli(a.Now.Add(a.TTL))
	cutoff := a.Now.Add(-a.Skew)
	values := map[string]types.AttributeValue{
		":lease":     s(a.LeaseID),
		":owner":     s(a.Owner),
		":seed":      n(a.Now.UnixMicro()),
		":one":       n(1),
		":exp":       n(end.UnixMilli()),
		":now":       n(a.Now.UnixMilli()),
		":ttl":       n(cleanupAt(end, a.Retention)),
		":cutoff":    n(cutoff.UnixMilli()),
		":cutoffSec": n(cutoff.Unix()),
		":ver":       s(a.LeaseID + ".0"),
		":seq":       n(0),
		":granted":   n(a.TTL.Milliseconds()),
	}
	set := []string{"#ver = :ver", "#seq = :seq", "#granted = :granted", "#lease = :lease", "#owner = :owner", "#tok = if_not_exists(#tok, :seed) + :one",
		"#exp = :exp", "#acq = :now", "#ttl = :ttl"}
	var remove []string
	for _, o := range []struct{ name, v string }{{"#host", a.Host}, {"#req", a.RequestID}} {
		if o.v != "" {
			values[":"+o.name[1:]] = s(o.v)
			set = append(set, o.name+" = :"+o.name[1:])
		} else {
			remove = append(remove, o.name)
		}
	}
	remove = append(remove, "#meta")
	return &dynamodb.UpdateItemInput{
		TableName:        aws.String(a.Table),
		Key:              key(a.ID),
		UpdateExpression: aws.String("SET " + strings.Join(set, ", ") + " REMOVE " + strings.Join(remove, ", ")),
		ConditionExpression: aws.String("(attribute_not_exists(#id)" +
			" OR (#lease = :lease AND NOT (#rel = :lease) AND #seq = :seq)" +
			" OR (#rel = #lease AND NOT (#lease = :lease))" +
			" OR #exp < :cutoff" +
			" OR (attribute_not_exists(#exp) AND (attribute_not_exists(#ttl) OR #ttl < :cutoffSec)))" +
			" AND NOT (#forced = :lease)"),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
}

// Release is DynaLock's release request (lock/requests.go) written out by
// hand: token is the fencing token the acquire was granted (the release is
// conditioned on it, so a late copy of the acquire cannot revive the lease).
func Release(table, id, leaseID string, token int64, now time.Time, retention time.Duration) *dynamodb.UpdateItemInput {
	return &dynamodb.UpdateItemInput{
		TableName:           aws.String(table),
		Key:                 key(id),
		UpdateExpression:    aws.String("SET #rel = :lease, #relAt = :now, #ttl = :ttl REMOVE #rby, #rwhy"),
		ConditionExpression: aws.String("(#lease = :lease AND NOT (#rel = :lease) AND NOT (#forced = :lease)) AND #tok = :tok"),
		ExpressionAttributeNames: map[string]string{
			"#rel": ReleasedLease, "#relAt": ReleasedAt, "#ttl": TTL, "#lease": Lease,
			"#rby": ReleasedBy, "#rwhy": ReleaseReason, "#forced": ForcedLease, "#tok": Token,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":lease": s(leaseID),
			":tok":   n(token),
			":now":   n(now.UnixMilli()),
			":ttl":   n(cleanupAt(now, retention)),
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
}

func ceilMilli(t time.Time) time.Time {
	if r := t.Truncate(time.Millisecond); !r.Equal(t) {
		return r.Add(time.Millisecond)
	}
	return t
}

func cleanupAt(end time.Time, retention time.Duration) int64 {
	return (end.Add(retention).UnixMilli() + 999) / 1000
}
