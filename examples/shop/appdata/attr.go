package appdata

import (
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Key returns the key of the application item whose ID is id.
func Key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{PartitionKey: S(id)}
}

// S returns a string attribute value.
func S(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

// N returns a number attribute value.
func N(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// SS returns a string set attribute value; ss must not be empty.
func SS(ss ...string) types.AttributeValue { return &types.AttributeValueMemberSS{Value: ss} }

// Int returns the number attribute name of item, 0 if it is missing.
func Int(item map[string]types.AttributeValue, name string) (int64, error) {
	v, ok := item[name]
	if !ok {
		return 0, nil
	}
	n, ok := v.(*types.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("appdata: attribute %s is %T, want a number", name, v)
	}
	i, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("appdata: attribute %s: %w", name, err)
	}
	return i, nil
}

// Strings returns the string set attribute name of item, nil if missing.
func Strings(item map[string]types.AttributeValue, name string) ([]string, error) {
	v, ok := item[name]
	if !ok {
		return nil, nil
	}
	ss, ok := v.(*types.AttributeValueMemberSS)
	if !ok {
		return nil, fmt.Errorf("appdata: attribute %s is %T, want a string set", name, v)
	}
	return ss.Value, nil
}

// String returns the string attribute name of item, "" if it is missing.
func String(item map[string]types.AttributeValue, name string) (string, error) {
	v, ok := item[name]
	if !ok {
		return "", nil
	}
	s, ok := v.(*types.AttributeValueMemberS)
	if !ok {
		return "", fmt.Errorf("appdata: attribute %s is %T, want a string", name, v)
	}
	return s.Value, nil
}

// Decoder reads attributes of one item, keeping the first error, so a
// caller decodes every field and checks Err once.
type Decoder struct {
	Item map[string]types.AttributeValue
	// Err is the first decoding error.
	Err error
}

// Int returns the number attribute name, 0 if missing or on an error.
func (d *Decoder) Int(name string) int64 {
	v, err := Int(d.Item, name)
	d.keep(err)
	return v
}

// Strings returns the string set attribute name, nil if missing or on an
// error.
func (d *Decoder) Strings(name string) []string {
	v, err := Strings(d.Item, name)
	d.keep(err)
	return v
}

// String returns the string attribute name, "" if missing or on an error.
func (d *Decoder) String(name string) string {
	v, err := String(d.Item, name)
	d.keep(err)
	return v
}

func (d *Decoder) keep(err error) {
	if d.Err == nil {
		d.Err = err
	}
}
