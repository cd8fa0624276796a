package middleware

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// KinesisPartitionKey returns a Key that gives a Kinesis record's
// partition key: one record per partition key at a time, across batches,
// shards and functions.
func KinesisPartitionKey() Key[events.KinesisEventRecord] {
	return KeyFunc("partition key", func(_ context.Context, r events.KinesisEventRecord) ([]string, error) {
		return nonEmpty("partition key", []string{r.Kinesis.PartitionKey})
	})
}

// KinesisEventID returns a Key, for WithIdempotency, that identifies
// a Kinesis record across Lambda's deliveries of it: its event ID (the
// shard ID and the sequence number, which alone is unique only within its
// shard) under its stream's ARN, when the event carries one. A producer
// that puts one message twice (its own retry) makes two records with two
// IDs: to handle such a message once, key on an ID the producer wrote into
// the data (KinesisData).
func KinesisEventID() Key[events.KinesisEventRecord] {
	return KeyFunc("eventID", func(_ context.Context, r events.KinesisEventRecord) ([]string, error) {
		ks, err := nonEmpty("eventID", []string{r.EventID})
		if err != nil || r.EventSourceArn == "" {
			return ks, err
		}
		return []string{r.EventSourceArn, r.EventID}, nil
	})
}

// DynamoDBEventID returns a Key, for WithIdempotency, that gives a
// DynamoDB Streams record's event ID: unique to the change it records, and
// the same in every delivery of it (its sequence number is unique only
// within its shard).
func DynamoDBEventID() Key[events.DynamoDBEventRecord] {
	return KeyFunc("eventID", func(_ context.Context, r events.DynamoDBEventRecord) ([]string, error) {
		return nonEmpty("eventID", []string{r.EventID})
	})
}

// KinesisData returns a Key that evaluates the JMESPath expression expr
// over a Kinesis record's data (which the event carries in base64 and
// aws-lambda-go decodes), decoded as JSON: "accountId" over
// {"accountId":"42"} gives "42". Data that is not JSON fails the record.
func KinesisData(expr string) Key[events.KinesisEventRecord] {
	return pathKey(expr, "data", func(r events.KinesisEventRecord) ([]byte, error) { return r.Kinesis.Data, nil })
}

// DynamoDBKeys returns a Key that gives the key of the item a DynamoDB
// Streams record changed, from the record's Keys: the values of the
// attributes names, in that order, joined with "/" ("ORDER#7/LINE#2");
// with no names, of every key attribute, ordered by name. Strings and
// numbers are used as they are, binary values in base64.
func DynamoDBKeys(names ...string) Key[events.DynamoDBEventRecord] {
	expr := "Keys"
	if len(names) > 0 {
		expr = "Keys " + strings.Join(names, ", ")
	}
	return KeyFunc(expr, func(_ context.Context, r events.DynamoDBEventRecord) ([]string, error) {
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
	})
}
