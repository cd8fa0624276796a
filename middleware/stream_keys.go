package middleware

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// KinesisPartitionKey returns a KeyFunc that gives a Kinesis record's
// partition key: one record per partition key at a time, across batches,
// shards and functions.
func KinesisPartitionKey() KeyFunc[events.KinesisEventRecord] {
	return func(_ context.Context, r events.KinesisEventRecord) ([]string, error) {
		return nonEmpty("partition key", []string{r.Kinesis.PartitionKey})
	}
}

// KinesisEventID returns a KeyFunc, for WithIdempotency, that identifies
// a Kinesis record across Lambda's deliveries of it: its event ID (the
// shard ID and the sequence number, which alone is unique only within its
// shard) under its stream's ARN, when the event carries one. A producer
// that puts one message twice (its own retry) makes two records with two
// IDs: to handle such a message once, key on an ID the producer wrote into
// the data (KinesisDataPath).
func KinesisEventID() KeyFunc[events.KinesisEventRecord] {
	return func(_ context.Context, r events.KinesisEventRecord) ([]string, error) {
		ks, err := nonEmpty("eventID", []string{r.EventID})
		if err != nil || r.EventSourceArn == "" {
			return ks, err
		}
		return []string{r.EventSourceArn, r.EventID}, nil
	}
}

// DynamoDBEventID returns a KeyFunc, for WithIdempotency, that gives a
// DynamoDB Streams record's event ID: unique to the change it records, and
// the same in every delivery of it (its sequence number is unique only
// within its shard).
func DynamoDBEventID() KeyFunc[events.DynamoDBEventRecord] {
	return func(_ context.Context, r events.DynamoDBEventRecord) ([]string, error) {
		return nonEmpty("eventID", []string{r.EventID})
	}
}

// KinesisDataPath returns a KeyFunc that evaluates the JMESPath expression
// expr over a Kinesis record's data (which the event carries in base64 and
// aws-lambda-go decodes), decoded as JSON: "accountId" over
// {"accountId":"42"} gives "42". Data that is not JSON fails the record. It
// fails, with an error matching lock.ErrInvalidInput, if expr does not
// compile.
func KinesisDataPath(expr string) (KeyFunc[events.KinesisEventRecord], error) {
	p, err := compile(expr)
	if err != nil {
		return nil, err
	}
	return func(_ context.Context, r events.KinesisEventRecord) ([]string, error) {
		return p.keys(r.Kinesis.Data, "data")
	}, nil
}

// DynamoDBKeys returns a KeyFunc that gives the key of the item a DynamoDB
// Streams record changed, from the record's Keys: the values of the
// attributes names, in that order, joined with "/" ("ORDER#7/LINE#2");
// with no names, of every key attribute, ordered by name. Strings and
// numbers are used as they are, binary values in base64.
func DynamoDBKeys(names ...string) KeyFunc[events.DynamoDBEventRecord] {
	expr := "Keys"
	if len(names) > 0 {
		expr = "Keys " + strings.Join(names, ", ")
	}
	return func(_ context.Context, r events.DynamoDBEventRecord) ([]string, error) {
		ns := names
		if len(ns) == 0 {
			for n := range r.Change.Keys {
				ns = append(ns, n)
			}
			slices.Sort(ns)
		}
		if len(ns) == 0 {
			return nil, keyError(expr, "the record has no Keys", nil)
		}
		parts := make([]string, len(ns))
		for i, n := range ns {
			av, ok := r.Change.Keys[n]
			if !ok {
				return nil, keyError(expr, fmt.Sprintf("no key attribute %q", n), nil)
			}
			var s string
			switch av.DataType() {
			case events.DataTypeString:
				s = av.String()
			case events.DataTypeNumber:
				s = av.Number()
			case events.DataTypeBinary:
				s = base64.StdEncoding.EncodeToString(av.Binary())
			default:
				return nil, keyError(expr, fmt.Sprintf("key attribute %q is not a string, number or binary", n), nil)
			}
			if strings.TrimSpace(s) == "" {
				return nil, keyError(expr, fmt.Sprintf("key attribute %q is empty", n), nil)
			}
			parts[i] = s
		}
		return []string{strings.Join(parts, "/")}, nil
	}
}

// DynamoDBImagePath returns a KeyFunc that evaluates the JMESPath
// expression expr over the item image of a DynamoDB Streams record as
// plain JSON (attribute values unwrapped: {"Sku":{"S":"BLUE-MUG"}} is
// {"Sku":"BLUE-MUG"}): the NewImage, or the OldImage when the record has
// none (a REMOVE). The stream's view type must include the image
// (NEW_IMAGE, OLD_IMAGE or NEW_AND_OLD_IMAGES). It fails, with an error
// matching lock.ErrInvalidInput, if expr does not compile.
func DynamoDBImagePath(expr string) (KeyFunc[events.DynamoDBEventRecord], error) {
	p, err := compile(expr)
	if err != nil {
		return nil, err
	}
	return func(_ context.Context, r events.DynamoDBEventRecord) ([]string, error) {
		img := r.Change.NewImage
		if img == nil {
			img = r.Change.OldImage
		}
		if img == nil {
			return nil, keyError(p.name(), "the record has no NewImage or OldImage (stream view type "+r.Change.StreamViewType+")", nil)
		}
		doc, err := json.Marshal(plainItem(img))
		if err != nil {
			return nil, keyError(p.name(), "image cannot be encoded as JSON", err)
		}
		return p.keys(doc, "image")
	}, nil
}

// plainItem returns an item's attribute values as plain JSON values.
func plainItem(item map[string]events.DynamoDBAttributeValue) map[string]any {
	m := make(map[string]any, len(item))
	for k, v := range item {
		m[k] = plainValue(v)
	}
	return m
}

func plainValue(av events.DynamoDBAttributeValue) any {
	switch av.DataType() {
	case events.DataTypeString:
		return av.String()
	case events.DataTypeNumber:
		return json.Number(av.Number())
	case events.DataTypeBoolean:
		return av.Boolean()
	case events.DataTypeBinary:
		return base64.StdEncoding.EncodeToString(av.Binary())
	case events.DataTypeMap:
		return plainItem(av.Map())
	case events.DataTypeList:
		l := av.List()
		out := make([]any, len(l))
		for i, v := range l {
			out[i] = plainValue(v)
		}
		return out
	case events.DataTypeStringSet:
		return toAny(av.StringSet())
	case events.DataTypeNumberSet:
		ns := av.NumberSet()
		out := make([]any, len(ns))
		for i, n := range ns {
			out[i] = json.Number(n)
		}
		return out
	case events.DataTypeBinarySet:
		bs := av.BinarySet()
		out := make([]any, len(bs))
		for i, b := range bs {
			out[i] = base64.StdEncoding.EncodeToString(b)
		}
		return out
	}
	return nil
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
