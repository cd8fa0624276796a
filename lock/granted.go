package lock

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// A single lease's release, extend and write are conditional on the item
// still carrying the token the holder was granted, not only its lease ID.
// A copy of the holder's acquire request can land late (stuck in the
// network while the SDK's retry got the lease), after the lease lapsed, was
// taken over and released: it takes the lock again under the same lease
// ID, with a new token and an end already past, for nobody. Only the
// token tells that lease from the holder's, whose lease was lost.

// onGrantedToken adds to in's condition that the item's token is token.
// in is a request of this lease built for this call.
func onGrantedToken(in *dynamodb.UpdateItemInput, token int64) *dynamodb.UpdateItemInput {
	in.ConditionExpression = aws.String("(" + aws.ToString(in.ConditionExpression) + ") AND #tok = :tok")
	in.ExpressionAttributeNames["#tok"] = attrToken
	in.ExpressionAttributeValues[":tok"] = nAttr(token)
	return in
}

// revived reports whether rec is this lease's ID under another token: a
// late copy of its acquire request, landed after the lease was lost.
func (l *part) revived(rec record) bool {
	return rec.LeaseID == l.leaseID && rec.Token != l.token
}
