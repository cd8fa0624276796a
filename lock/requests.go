package lock

import (
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/internal/lockitem"
)

// The three conditional writes that are the whole algorithm. Every request
// carries only values computed before it is sent, so a retry of the same
// request (the SDK's, after a lost response) is harmless.

// acquireCondition lets an acquire through when the lock is free: no item;
// this very lease, not released and not extended since (a retried request
// whose first attempt went through; an extend means the acquire's call
// returned, so this is a late duplicate, which must not move the end or
// the lease version back); the current lease released, if it is not this one (a late
// retry must not take a lease that its clean-up or an operator released:
// the item would still say released, and a second holder would enter); the
// lease ended more than the clock-skew tolerance ago (:cutoff); or an item
// without a lease end (written by another tool) whose TTL has passed. In
// no case may it take up again a lease ID an operator forced: the item's
// ForcedLease would then make its holder's release fail.
const acquireCondition = "(attribute_not_exists(#id)" +
	" OR (#lease = :lease AND NOT (#rel = :lease) AND #seq = :seq)" +
	" OR (#rel = #lease AND NOT (#lease = :lease))" +
	" OR #exp < :cutoff" +
	" OR (attribute_not_exists(#exp) AND (attribute_not_exists(#ttl) OR #ttl < :cutoffSec)))" +
	" AND NOT (#forced = :lease)"

type acquireRequest struct {
	table, id, leaseID string
	shape              lockitem.Shape // the table's, resolved
	o                  options
	claim              *claimOf // set for a claim (Client.Claim)
	requestID          string
	host               string
	now                time.Time // the clock's time when the request was built
	// seen is the lease version the observed-lease rule lets this attempt
	// take over, or nil.
	seen *sighting
}

// expiresAt is the lease's end as stored in the item.
func (r acquireRequest) expiresAt() time.Time { return ceilMilli(r.now.Add(r.o.TTL)) }

// ceilMilli rounds t up to the millisecond, the precision of stored lease
// ends: rounding up keeps a stored end at or after the holder's local one.
func ceilMilli(t time.Time) time.Time {
	if r := t.Truncate(time.Millisecond); !r.Equal(t) {
		return r.Add(time.Millisecond)
	}
	return t
}

func (r acquireRequest) input() *dynamodb.UpdateItemInput {
	names := map[string]string{
		"#id": r.shape.PartitionKey, "#ttl": r.shape.TTLAttribute, "#lease": attrLease, "#owner": attrOwner,
		"#tok": attrToken, "#exp": attrExpiresAt, "#acq": attrAcquiredAt, "#rel": attrReleasedLease,
		"#forced": attrForcedLease,
	}
	cutoff := r.now.Add(-r.o.Skew)
	values := map[string]types.AttributeValue{
		":lease":     sAttr(r.leaseID),
		":owner":     sAttr(r.o.Owner),
		":seed":      nAttr(r.now.UnixMicro()),
		":one":       nAttr(1),
		":exp":       nAttr(r.expiresAt().UnixMilli()),
		":now":       nAttr(r.now.UnixMilli()),
		":ttl":       nAttr(cleanupAt(r.expiresAt(), r.o.Retention)),
		":cutoff":    nAttr(cutoff.UnixMilli()),
		":cutoffSec": nAttr(cutoff.Unix()),
	}
	set := []string{"#lease = :lease", "#owner = :owner", "#tok = if_not_exists(#tok, :seed) + :one",
		"#exp = :exp", "#acq = :now", "#ttl = :ttl"}
	var remove []string
	optional := func(name, attr string, v types.AttributeValue, present bool) {
		names[name] = attr
		if present {
			values[":"+name[1:]] = v
			set = append(set, name+" = :"+name[1:])
		} else {
			remove = append(remove, name)
		}
	}
	optional("#host", attrHost, sAttr(r.host), r.host != "")
	optional("#req", attrRequestID, sAttr(r.requestID), r.requestID != "")
	optional("#meta", attrMetadata, metadataAttr(r.o.Metadata), len(r.o.Metadata) > 0)
	cond := r.takeoverCondition(names, values)
	if r.claim != nil {
		// A claim also needs no unexpired completion; it clears an expired
		// one, and stores its payload's hash.
		cond = "(" + cond + ") AND NOT (#done > :now)"
		optional("#payload", attrPayloadHash, sAttr(r.claim.payloadHash), r.claim.payloadHash != "")
		names["#done"], names["#doneAt"], names["#doneLease"], names["#result"] = attrDoneUntil, attrCompletedAt, attrCompletedLease, attrResult
		remove = append(remove, "#done", "#doneAt", "#doneLease", "#result")
	}
	expr := "SET " + strings.Join(set, ", ")
	if len(remove) > 0 {
		expr += " REMOVE " + strings.Join(remove, ", ")
	}
	in := &dynamodb.UpdateItemInput{
		TableName:                           aws.String(r.table),
		Key:                                 r.shape.Key(r.id),
		UpdateExpression:                    aws.String(expr),
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	versioned(in, r.leaseID, 0, r.o.TTL, false)
	return in
}

func metadataAttr(m map[string]string) types.AttributeValue {
	out := make(map[string]types.AttributeValue, len(m))
	for k, v := range m {
		out[k] = sAttr(v)
	}
	return &types.AttributeValueMemberM{Value: out}
}

// extendInput moves the end of leaseID to end, if it is still the item's
// lease, was not released, and its stored end is not later: an extend
// never shortens a lease, so a stale extend that lands after a later one
// (or a shorter TTL) cannot move the end back under a holder's deadline.
func (c *Client) extendInput(id, leaseID string, end time.Time, retention time.Duration) *dynamodb.UpdateItemInput {
	return &dynamodb.UpdateItemInput{
		TableName:           aws.String(c.table),
		Key:                 c.keyOf(id),
		UpdateExpression:    aws.String("SET #exp = :exp, #ttl = :ttl"),
		ConditionExpression: aws.String("#lease = :lease AND NOT (#rel = :lease) AND #exp <= :exp"),
		ExpressionAttributeNames: map[string]string{
			"#exp": attrExpiresAt, "#ttl": c.shape.TTLAttribute, "#lease": attrLease, "#rel": attrReleasedLease,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":lease": sAttr(leaseID),
			":exp":   nAttr(ceilMilli(end).UnixMilli()),
			":ttl":   nAttr(cleanupAt(end, retention)),
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
}
