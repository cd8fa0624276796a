package admin

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/internal/claimid"
	"github.com/dynalock/dynalock/internal/lockitem"
)

// Keying is how the Lambda middleware keyed an idempotency claim: the
// namespace (from its lock ID), and, stored in the claim's metadata when
// it was taken, the function (the scope the key was hashed with), what
// the key reads and the keys themselves. Each key is stored cut to
// 64 bytes and at most 4 keys are kept (a cut key ends "…(+N bytes)");
// pick keys that are identifiers, not secrets. A claim made with
// lock.Client.Claim has no stored keying (Stored is false): its lock ID is
// its key.
type Keying struct {
	Namespace string
	Scope     string // the function's name, AWS_LAMBDA_FUNCTION_NAME
	KeyName   string // what the key reads, such as "messageId" or "orderId"
	Keys      []string
	Stored    bool
}

func keyingOf(id string, meta map[string]string) Keying {
	return Keying(claimid.KeyingOf(id, meta))
}

// Forgotten is the last forget of an idempotency record (ForgetInput):
// the lease whose completion (or claim) was forgotten, by whom, why and
// when. Lease is empty when it was never forgotten.
type Forgotten struct {
	Lease, By, Reason string
	At                time.Time
}

// ClaimState is the state of an idempotency record: what the next
// delivery of its event does.
type ClaimState string

// The states of an idempotency record.
const (
	// ClaimInProgress: a delivery holds the claim and may be running the
	// handler now; another delivery finds it held.
	ClaimInProgress ClaimState = "in-progress"
	// ClaimCompleted: the event was done; until DoneUntil its deliveries
	// are answered with the stored result, without running.
	ClaimCompleted ClaimState = "completed"
	// ClaimExpired: the event was done, but the completion's DoneUntil has
	// passed: the next delivery runs it again.
	ClaimExpired ClaimState = "expired"
	// ClaimForgotten: an operator forgot the completion (or the claim in
	// progress): the next delivery runs it again.
	ClaimForgotten ClaimState = "forgotten"
	// ClaimIncomplete: the claim was released without a completion (the
	// handler failed) or its lease ended (its invocation stopped): the next
	// delivery runs it again.
	ClaimIncomplete ClaimState = "incomplete"
)

// IsClaim reports whether r is an idempotency record: a claim of the
// Lambda middleware (its lock ID is namespace + "/idempotency#<hex>"), or
// one of lock.Client.Claim that stored a payload's hash or a completion.
// A Claim made without a payload and not completed looks like any lock.
func (r Record) IsClaim() bool {
	return claimid.IsClaim(r.LockID) || r.Keying.Stored || r.PayloadHash != "" ||
		r.CompletedLease != "" || !r.DoneUntil.IsZero() || r.Forgotten.Lease != ""
}

// ClaimState returns the state of the idempotency record r at now.
// Completion and expiry are decided from the stored times, as the lock
// decides them, never from DynamoDB's TTL deletion.
func (r Record) ClaimState(now time.Time) ClaimState {
	switch {
	case !r.DoneUntil.IsZero() && now.Before(r.DoneUntil):
		return ClaimCompleted
	case !r.DoneUntil.IsZero():
		return ClaimExpired
	case r.Forgotten.Lease != "" && r.Forgotten.Lease == r.LeaseID:
		return ClaimForgotten
	case r.Held(now):
		return ClaimInProgress
	}
	return ClaimIncomplete
}

// Errors of ForgetInput.
var (
	// ErrClaimInProgress means the record is in progress: a delivery may be
	// running the handler now. Forgetting it takes the claim from that
	// delivery (its Complete then writes nothing and fails with
	// lock.ErrLockLost), so it needs force.
	ErrClaimInProgress = errors.New("admin: idempotency record in progress")
	// ErrNothingToForget means the record's next delivery runs the event
	// already: its completion expired or was forgotten, or it was never
	// completed.
	ErrNothingToForget = errors.New("admin: nothing to forget")
)

// ForgetInput returns the request that forgets the idempotency record
// seen (as Read returned it), so that the next delivery of its event runs
// the handler again: it removes the completion (the stored result with
// it) and records by, reason and now in the item (ForgottenBy,
// ForgetReason, ForgottenAt, ForgottenLease). The write is conditional on
// the record being as seen: the same lease and fencing token, and the same
// completion (lease, end, result size); otherwise it fails with a
// ConditionalCheckFailedException carrying the current item, for Parse.
//
// A record in progress (ClaimInProgress) is refused with
// ErrClaimInProgress unless force is true; forced, the request
// force-releases the claim as ForceReleaseInput does, and the running
// delivery's Complete then writes nothing. A record whose next delivery
// runs the event anyway is refused with ErrNothingToForget. Forgetting
// undoes nothing the handler did: it only lets the event run again.
func ForgetInput(table string, seen Record, by, reason string, now time.Time, force bool) (*dynamodb.UpdateItemInput, error) {
	state := seen.ClaimState(now)
	switch {
	case !seen.IsClaim():
		return nil, fmt.Errorf("admin: forget %q: not an idempotency record", seen.LockID)
	case state == ClaimInProgress && !force:
		return nil, fmt.Errorf("%w: %q", ErrClaimInProgress, seen.LockID)
	case state == ClaimInProgress:
		return forgetInProgress(table, seen, by, reason, now), nil
	case state != ClaimCompleted:
		return nil, fmt.Errorf("%w: %q is %s", ErrNothingToForget, seen.LockID, state)
	}
	names := map[string]string{
		"#lease": lockitem.AttrLease, "#tok": lockitem.AttrToken,
		"#done": lockitem.AttrDoneUntil, "#doneAt": lockitem.AttrCompletedAt, "#doneLease": lockitem.AttrCompletedLease,
		"#result": lockitem.AttrResult,
	}
	values := map[string]types.AttributeValue{
		":lease":     lockitem.S(seen.LeaseID),
		":tok":       lockitem.N(seen.Token),
		":doneLease": lockitem.S(seen.CompletedLease),
		":done":      lockitem.N(seen.DoneUntil.UnixMilli()),
	}
	cond := "#lease = :lease AND #tok = :tok AND #doneLease = :doneLease AND #done = :done"
	if seen.Result == nil {
		cond += " AND attribute_not_exists(#result)"
	} else {
		cond += " AND size(#result) = :size"
		values[":size"] = lockitem.N(int64(len(seen.Result)))
	}
	set := forgetSet(names, values, seen.LeaseID, by, reason, now)
	return &dynamodb.UpdateItemInput{
		TableName:                           aws.String(table),
		Key:                                 lockitem.Key(seen.LockID),
		UpdateExpression:                    aws.String("SET " + set + " REMOVE #done, #doneAt, #doneLease, #result"),
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}, nil
}

// forgetInProgress is the forced forget of a claim in progress: its
// force-release, which also records the forget, on the condition that the
// claim is still not completed.
func forgetInProgress(table string, seen Record, by, reason string, now time.Time) *dynamodb.UpdateItemInput {
	in := lockitem.ForceReleaseInput(table, seen.LockID, seen.LeaseID, seen.Token, by, reason, now)
	set := forgetSet(in.ExpressionAttributeNames, in.ExpressionAttributeValues, seen.LeaseID, by, reason, now)
	// "SET a, b ADD c" becomes "SET a, b, <forget> ADD c".
	expr := aws.ToString(in.UpdateExpression)
	i := strings.Index(expr, " ADD ")
	in.UpdateExpression = aws.String(expr[:i] + ", " + set + expr[i:])
	in.ExpressionAttributeNames["#done"] = lockitem.AttrDoneUntil
	in.ConditionExpression = aws.String(aws.ToString(in.ConditionExpression) + " AND attribute_not_exists(#done)")
	return in
}

// forgetSet adds the forget's audit attributes (ForgottenLease,
// ForgottenBy, ForgetReason, ForgottenAt) to names and values, under
// placeholders of their own, and returns their SET clauses.
func forgetSet(names map[string]string, values map[string]types.AttributeValue, lease, by, reason string, now time.Time) string {
	names["#fgLease"], names["#fgBy"], names["#fgWhy"], names["#fgAt"] =
		lockitem.AttrForgottenLease, lockitem.AttrForgottenBy, lockitem.AttrForgetReason, lockitem.AttrForgottenAt
	values[":fgLease"], values[":fgBy"], values[":fgWhy"], values[":fgAt"] =
		lockitem.S(lease), lockitem.S(by), lockitem.S(reason), lockitem.N(now.UnixMilli())
	return "#fgLease = :fgLease, #fgBy = :fgBy, #fgWhy = :fgWhy, #fgAt = :fgAt"
}
