package lockitem

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attributes an operator's forget (admin.ForgetInput) writes into an
// idempotency claim's item, for audit; the lock never reads them. A later
// claim of the item leaves them, as a record of the last forget.
const (
	AttrForgottenLease = "ForgottenLease" // S: the lease whose completion (or claim) was forgotten
	AttrForgottenBy    = "ForgottenBy"    // S: who forgot it
	AttrForgetReason   = "ForgetReason"   // S: why
	AttrForgottenAt    = "ForgottenAt"    // N: when, epoch milliseconds
)

// Forget is what an item records of the last forget.
type Forget struct {
	Lease, By, Reason string
	At                time.Time
}

// ParseForget reads the last forget recorded in item, if any.
func ParseForget(item map[string]types.AttributeValue) (Forget, error) {
	f := Forget{Lease: str(item, AttrForgottenLease), By: str(item, AttrForgottenBy), Reason: str(item, AttrForgetReason)}
	ms, err := num(item, AttrForgottenAt)
	if ms != 0 {
		f.At = time.UnixMilli(ms)
	}
	return f, err
}
