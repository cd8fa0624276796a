package demo

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

func ids(recs []events.SQSMessage) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.MessageId)
	}
	return out
}

// The stand-in keeps SQS's rules: receive counts, the visibility
// timeout, FIFO groups blocked while a message is in flight, the
// dead-letter queue after MaxReceives.
func TestSQSQueueRules(t *testing.T) {
	arn := "arn:aws:sqs:us-east-1:123456789012:q.fifo"
	q, err := newQueue(arn, Queue{Visibility: 10 * time.Second, MaxReceives: 2, BatchSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	for _, m := range []struct{ id, group string }{{"a1", "a"}, {"b1", "b"}, {"a2", "a"}} {
		q.send(events.SQSMessage{MessageId: m.id, Attributes: map[string]string{"MessageGroupId": m.group}}, t0)
	}
	got := q.receive(t0)
	if !slices.Equal(ids(got), []string{"a1", "b1", "a2"}) || got[0].Attributes["ApproximateReceiveCount"] != "1" || got[0].EventSourceARN != arn {
		t.Fatalf("first receive: %+v", got)
	}
	// a1 and a2 fail; b1 is deleted. Nothing is visible before the timeout.
	if _, err := q.delete(got[1].ReceiptHandle); err != nil {
		t.Fatal(err)
	}
	if again := q.receive(t0.Add(9 * time.Second)); len(again) != 0 {
		t.Fatalf("received %v before the visibility timeout", ids(again))
	}
	// a2 is made visible at once; its group stays blocked by a1 in flight.
	if err := q.changeVisibility(got[2].ReceiptHandle, 0, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if again := q.receive(t0.Add(2 * time.Second)); len(again) != 0 {
		t.Fatalf("received %v while a1 of its group was in flight", ids(again))
	}
	second := q.receive(t0.Add(11 * time.Second))
	if !slices.Equal(ids(second), []string{"a1", "a2"}) || second[0].Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("second receive: %+v", second)
	}
	if err := q.changeVisibility(got[0].ReceiptHandle, 0, t0.Add(11*time.Second)); !errors.Is(err, errBadHandle) {
		t.Errorf("change with an old receipt handle: %v, want %v", err, errBadHandle)
	}
	// The third receive moves both to the dead-letter queue.
	if third := q.receive(t0.Add(30 * time.Second)); len(third) != 0 {
		t.Fatalf("third receive: %v, want none (dead-lettered)", ids(third))
	}
	if _, _, dead := q.stats(); !slices.Equal(dead, []string{"a1", "a2"}) || !q.settled() {
		t.Errorf("dead-lettered %v, want a1 and a2", dead)
	}
}

// The functions' SDK client changes visibility through the stand-in.
func TestSQSStandInServesTheSDK(t *testing.T) {
	s, err := StartSQS()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	arn := "arn:aws:sqs:us-east-1:123456789012:orders"
	qs, err := s.send([]events.SQSEvent{{Records: []events.SQSMessage{{MessageId: "m1", EventSourceARN: arn}, {MessageId: "m2", EventSourceARN: arn}}}},
		Queue{Visibility: 18 * time.Second, MaxReceives: 5}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	recs := qs[0].receive(time.Now())
	c := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""), Retryer: aws.NopRetryer{}})
	ctx := context.Background()
	url := "https://sqs.us-east-1.amazonaws.com/123456789012/orders"
	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameVisibilityTimeout, types.QueueAttributeNameRedrivePolicy}})
	if err != nil || attrs.Attributes["VisibilityTimeout"] != "18" || attrs.Attributes["RedrivePolicy"] == "" {
		t.Fatalf("GetQueueAttributes: %+v, %v", attrs, err)
	}
	out, err := c.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(url), Entries: []types.ChangeMessageVisibilityBatchRequestEntry{
		{Id: aws.String("e1"), ReceiptHandle: aws.String(recs[0].ReceiptHandle), VisibilityTimeout: 0},
		{Id: aws.String("e2"), ReceiptHandle: aws.String("stale"), VisibilityTimeout: 0},
	}})
	if err != nil || len(out.Successful) != 1 || len(out.Failed) != 1 || aws.ToString(out.Failed[0].Code) != "ReceiptHandleIsInvalid" {
		t.Fatalf("ChangeMessageVisibilityBatch: %+v, %v", out, err)
	}
	if again := qs[0].receive(time.Now()); !slices.Equal(ids(again), []string{"m1"}) {
		t.Errorf("after the change: received %v, want m1 again", ids(again))
	}
	_, err = c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url + "-other"), ReceiptHandle: aws.String("x"), VisibilityTimeout: 1})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "QueueDoesNotExist" {
		t.Errorf("change on an unknown queue: %v, want QueueDoesNotExist", err)
	}
}
