// Package capacity computes what DynamoDB charges for an item, by the
// rules of the DynamoDB Developer Guide ("Item sizes and formats",
// "DynamoDB read and write operations"): for the requests whose capacity
// DynamoDB does not report, such as a conditional write whose condition
// failed (it answers an error, with no ConsumedCapacity, yet still
// consumes write capacity by the size of the item as it is).
package capacity

import (
	"math"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ItemSize returns the size in bytes that DynamoDB counts for item: each
// attribute's name (UTF-8 bytes) plus its value. Strings and binaries
// count their bytes; a number about one byte per two significant digits
// plus one; booleans and nulls one byte; a map or list 3 bytes plus its
// elements (a map's element names included) plus one byte per element;
// sets their elements.
func ItemSize(item map[string]types.AttributeValue) int {
	total := 0
	for name, v := range item {
		total += len(name) + valueSize(v)
	}
	return total
}

func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return numberSize(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberSS:
		t := 0
		for _, e := range v.Value {
			t += len(e)
		}
		return t
	case *types.AttributeValueMemberNS:
		t := 0
		for _, e := range v.Value {
			t += numberSize(e)
		}
		return t
	case *types.AttributeValueMemberBS:
		t := 0
		for _, e := range v.Value {
			t += len(e)
		}
		return t
	case *types.AttributeValueMemberM:
		t := 3
		for k, e := range v.Value {
			t += len(k) + valueSize(e) + 1
		}
		return t
	case *types.AttributeValueMemberL:
		t := 3
		for _, e := range v.Value {
			t += valueSize(e) + 1
		}
		return t
	}
	return 0
}

// numberSize is a number's size: one byte per two significant digits
// (leading and trailing zeros trimmed), plus one; a negative number one
// more.
func numberSize(s string) int {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimLeft(s, "+-")
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		s = s[:i]
	}
	digits := strings.Trim(strings.ReplaceAll(s, ".", ""), "0")
	size := (len(digits)+1)/2 + 1
	if neg {
		size++
	}
	return size
}

// WriteUnits returns the write request units of a standard write of an
// item of size bytes: one per KB, rounded up, at least one. An UpdateItem
// counts the larger of the item before and after; a failed conditional
// write counts the item as it is.
func WriteUnits(size int) float64 { return math.Max(1, math.Ceil(float64(size)/1024)) }

// TransactWriteUnits returns the write request units of one item of size
// bytes in a TransactWriteItems: twice a standard write's.
func TransactWriteUnits(size int) float64 { return 2 * WriteUnits(size) }

// ReadUnits returns the read request units of a read of an item of size
// bytes: one per 4 KB, rounded up, for a strongly consistent read; half
// that for an eventually consistent one.
func ReadUnits(size int, consistent bool) float64 {
	u := math.Max(1, math.Ceil(float64(size)/4096))
	if !consistent {
		u /= 2
	}
	return u
}
