package appdata

import (
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TokenAttribute (type N) holds the fencing token of the newest lease whose
// holder wrote an item. Writes guarded by Fence carry their lease's token
// and go through only if it is not older than this one.
const TokenAttribute = "LastToken"

// Fence returns the condition expression, with its placeholders, that lets
// a write carrying token go through only if no holder of a newer lease has
// written the item: attribute_not_exists(LastToken) OR LastToken <= token.
// Equal tokens pass because one lease may write an item more than once;
// tokens of different leases of one lock never are equal. The write itself
// must set TokenAttribute to token (see FenceSet).
//
// A holder whose lease ended while it was paused (a long GC pause, a frozen
// Lambda sandbox) then finds its write refused instead of overwriting the
// newer holder's.
func Fence(token int64) (cond string, names map[string]string, values map[string]types.AttributeValue) {
	return "attribute_not_exists(#tok) OR #tok <= :tok",
		map[string]string{"#tok": TokenAttribute},
		map[string]types.AttributeValue{":tok": &types.AttributeValueMemberN{Value: strconv.FormatInt(token, 10)}}
}

// FenceSet is the SET clause that records a fenced write's token; it uses
// the placeholders Fence returns.
const FenceSet = "#tok = :tok"
