package lock

import (
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/internal/lockitem"
)

// The requests of a lock ID with N > 1 permits. Like the single lease's,
// each carries only values computed before it is sent, so the SDK's retry
// of a request whose answer was lost finds its own entry and is judged a
// success (or, for a release, judged as a single lease's retry is).

const (
	attrPermits      = lockitem.AttrPermits
	attrHolders      = lockitem.AttrHolders
	attrPermitTokens = lockitem.AttrPermitTokens
	attrGranted      = lockitem.AttrGranted
)

// singleNotHeld is true of an item that holds no single lease (lock IDs
// used with one permit) that may still run: none, released, or over more
// than the clock-skew tolerance ago (:cutoff).
const singleNotHeld = "(attribute_not_exists(#lease) OR #rel = #lease OR #exp < :cutoff)"

// permitRequest is one acquire of a permit by lease leaseID.
type permitRequest struct {
	acquireRequest
	n int // permits
}

func (r permitRequest) names() map[string]string {
	return map[string]string{
		"#h": attrHolders, "#pt": attrPermitTokens, "#n": attrPermits, "#tok": attrToken, "#ttl": r.shape.TTLAttribute,
		"#me": r.leaseID, "#lease": attrLease, "#forced": attrForcedLease,
	}
}

// entry is the holder's entry in the Holders map.
func (r permitRequest) entry() types.AttributeValue {
	e := map[string]types.AttributeValue{
		attrOwner:      sAttr(r.o.Owner),
		attrExpiresAt:  nAttr(r.expiresAt().UnixMilli()),
		attrAcquiredAt: nAttr(r.now.UnixMilli()),
		attrGranted:    nAttr(r.o.TTL.Milliseconds()),
	}
	if r.host != "" {
		e[attrHost] = sAttr(r.host)
	}
	if r.requestID != "" {
		e[attrRequestID] = sAttr(r.requestID)
	}
	if len(r.o.Metadata) > 0 {
		e[attrMetadata] = metadataAttr(r.o.Metadata)
	}
	return &types.AttributeValueMemberM{Value: e}
}

// joinInput takes a permit when fewer than n are held: the holder's entry
// and token (from the ID's counter, in the same update), conditioned on
// the item keeping n permits, fewer than n entries, none for this lease
// (a retry whose first attempt went through fails here and finds itself),
// no single lease, and this lease not forced by an operator. It is the
// one request of an acquire that finds a free permit.
func (r permitRequest) joinInput() *dynamodb.UpdateItemInput {
	return r.takeInput(nil, int64(r.n))
}

// lapsed is a holder entry that a takeover removes, conditioned on its
// lease end being still the one judged lapsed (an extend changes it).
type lapsed struct {
	leaseID string
	end     time.Time
}

// takeInput is joinInput that also removes the lapsed entries, and stores
// n as the item's permits where seenN (the count the item had when it was
// read) differs: it is the second request of an acquire that found every
// permit taken but some by lapsed leases. Its condition holds the item to
// what was read: each lapsed entry unchanged, at most n entries after the
// update, the count seenN; with another count (n is changing) exactly the
// entries read, all lapsed, so no holder of the old count is inside.
func (r permitRequest) takeInput(gone []lapsed, seenN int64) *dynamodb.UpdateItemInput {
	names := r.names()
	if len(gone) > 0 {
		names["#exp"] = attrExpiresAt
	}
	values := map[string]types.AttributeValue{
		":entry": r.entry(),
		":seed":  nAttr(r.now.UnixMicro()),
		":one":   nAttr(1),
		":ttl":   nAttr(cleanupAt(r.expiresAt(), r.o.Retention)),
		":n":     nAttr(int64(r.n)),
		":lease": sAttr(r.leaseID),
	}
	set := []string{"#h.#me = :entry", "#pt.#me = if_not_exists(#tok, :seed) + :one",
		"#tok = if_not_exists(#tok, :seed) + :one", "#ttl = :ttl"}
	cond := []string{"attribute_not_exists(#h.#me)", "attribute_not_exists(#lease)", "NOT (#forced = :lease)"}
	var remove []string
	for i, g := range gone {
		k, v := "#x"+strconv.Itoa(i), ":x"+strconv.Itoa(i)
		names[k], values[v] = g.leaseID, nAttr(g.end.UnixMilli())
		remove = append(remove, "#h."+k, "#pt."+k)
		cond = append(cond, "#h."+k+".#exp = "+v)
	}
	limit := int64(r.n + len(gone)) // entries before: at most n-1 besides the lapsed
	if seenN == int64(r.n) {
		cond = append(cond, "#n = :n")
	} else {
		set = append(set, "#n = :n")
		limit = int64(len(gone) + 1)
		if seenN == 0 {
			cond = append(cond, "attribute_not_exists(#n)")
		} else {
			values[":seenN"] = nAttr(seenN)
			cond = append(cond, "#n = :seenN")
		}
	}
	values[":limit"] = nAttr(limit)
	cond = append(cond, "size(#h) < :limit")
	expr := "SET " + strings.Join(set, ", ")
	if len(remove) > 0 {
		expr += " REMOVE " + strings.Join(remove, ", ")
	}
	return &dynamodb.UpdateItemInput{
		TableName:                           aws.String(r.table),
		Key:                                 r.shape.Key(r.id),
		UpdateExpression:                    aws.String(expr),
		ConditionExpression:                 aws.String(strings.Join(cond, " AND ")),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
}

// initInput makes the item a permit item: an empty Holders map and
// PermitTokens map, the permit count, and none of a single lease's
// attributes (so that an acquire with one permit finds no released lease
// to take: it refuses the item). It is sent when an acquire finds no
// Holders map (the ID's first use with permits, or after DynamoDB deleted
// the item), or a single lease that is over (seenLease). It keeps the
// counter. Applied twice, it changes nothing the second time.
func (r permitRequest) initInput(seenLease string) *dynamodb.UpdateItemInput {
	names := map[string]string{
		"#h": attrHolders, "#pt": attrPermitTokens, "#n": attrPermits,
		"#lease": attrLease, "#rel": attrReleasedLease, "#exp": attrExpiresAt,
		"#owner": attrOwner, "#acq": attrAcquiredAt, "#host": attrHost, "#req": attrRequestID, "#meta": attrMetadata,
		"#relAt": attrReleasedAt, "#rby": lockitem.AttrReleasedBy, "#rwhy": lockitem.AttrReleaseReason,
	}
	values := map[string]types.AttributeValue{
		":n":      nAttr(int64(r.n)),
		":cutoff": nAttr(r.now.Add(-r.o.Skew).UnixMilli()),
	}
	set := "SET #n = :n"
	cond := singleNotHeld + " AND attribute_not_exists(#h)"
	if seenLease != "" {
		set = "SET #n = if_not_exists(#n, :n)"
		delete(names, "#h")
		delete(names, "#pt")
		values[":seen"] = sAttr(seenLease)
		cond = singleNotHeld + " AND #lease = :seen"
	} else {
		values[":empty"] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}}
		set += ", #h = :empty, #pt = :empty"
	}
	return &dynamodb.UpdateItemInput{
		TableName:                           aws.String(r.table),
		Key:                                 r.shape.Key(r.id),
		UpdateExpression:                    aws.String(set + " REMOVE #lease, #owner, #exp, #acq, #host, #req, #meta, #rel, #relAt, #rby, #rwhy"),
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
}

// permitReleaseInput removes leaseID's entry, if it is there with token,
// the one its holder was granted: an entry under the same lease ID with
// another token was written by a late copy of the acquire request after
// the holder's permit was taken over, and is not that holder's. Token 0
// (the clean-up of an acquire whose answer was not seen, which knows no
// token) removes whatever entry is under the lease ID: all are its own.
func (c *Client) permitReleaseInput(id, leaseID string, token int64) *dynamodb.UpdateItemInput {
	in := &dynamodb.UpdateItemInput{
		TableName:                           aws.String(c.table),
		Key:                                 c.keyOf(id),
		UpdateExpression:                    aws.String("REMOVE #h.#me, #pt.#me"),
		ConditionExpression:                 aws.String("attribute_exists(#h.#me)"),
		ExpressionAttributeNames:            map[string]string{"#h": attrHolders, "#pt": attrPermitTokens, "#me": leaseID},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	if token != 0 {
		in.ConditionExpression = aws.String(ownPermit)
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":tok": nAttr(token)}
	}
	return in
}

// ownPermit is true of an item that holds the permit of lease #me granted
// with token :tok: its entry, with that token.
const ownPermit = "attribute_exists(#h.#me) AND #pt.#me = :tok"

// permitExtendInput moves the end of leaseID's entry to end, if the entry
// is there with token (ownPermit) and does not end later: an extend never
// shortens a lease. The item's TTL follows the latest extend.
func (c *Client) permitExtendInput(id, leaseID string, token int64, end time.Time, retention time.Duration) *dynamodb.UpdateItemInput {
	return &dynamodb.UpdateItemInput{
		TableName:           aws.String(c.table),
		Key:                 c.keyOf(id),
		UpdateExpression:    aws.String("SET #h.#me.#exp = :exp, #ttl = :ttl"),
		ConditionExpression: aws.String(ownPermit + " AND #h.#me.#exp <= :exp"),
		ExpressionAttributeNames: map[string]string{
			"#h": attrHolders, "#pt": attrPermitTokens, "#me": leaseID, "#exp": attrExpiresAt, "#ttl": c.shape.TTLAttribute,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":tok": nAttr(token),
			":exp": nAttr(ceilMilli(end).UnixMilli()),
			":ttl": nAttr(cleanupAt(end, retention)),
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
}

// permitLeaseCheck is a transaction's action on a permit item: a check
// that the holder's permit is there (its entry, with its token), or with
// release its removal on that condition.
func (l *part) permitLeaseCheck(release bool) types.TransactWriteItem {
	in := l.client.permitReleaseInput(l.id, l.leaseID, l.token)
	if !release {
		return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
			TableName:                           in.TableName,
			Key:                                 in.Key,
			ConditionExpression:                 in.ConditionExpression,
			ExpressionAttributeNames:            in.ExpressionAttributeNames,
			ExpressionAttributeValues:           in.ExpressionAttributeValues,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}}
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                           in.TableName,
		Key:                                 in.Key,
		UpdateExpression:                    in.UpdateExpression,
		ConditionExpression:                 in.ConditionExpression,
		ExpressionAttributeNames:            in.ExpressionAttributeNames,
		ExpressionAttributeValues:           in.ExpressionAttributeValues,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}
}
