package demo

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// A record read with GetRecords becomes the JSON Lambda delivers: every
// attribute type, the images left out when empty, the stream's ARN.
func TestStreamEvent(t *testing.T) {
	created := time.Unix(1795608100, 0)
	r := types.Record{
		AwsRegion: aws.String("us-east-1"), EventID: aws.String("e-1"), EventName: types.OperationTypeInsert,
		EventSource: aws.String("aws:dynamodb"), EventVersion: aws.String("1.1"),
		Dynamodb: &types.StreamRecord{
			ApproximateCreationDateTime: &created,
			Keys:                        map[string]types.AttributeValue{"Id": &types.AttributeValueMemberS{Value: "sku#MUG"}},
			NewImage: map[string]types.AttributeValue{
				"Id": &types.AttributeValueMemberS{Value: "sku#MUG"},
				"N":  &types.AttributeValueMemberN{Value: "4"},
				"B":  &types.AttributeValueMemberB{Value: []byte("hi")},
				"T":  &types.AttributeValueMemberBOOL{Value: true},
				"Z":  &types.AttributeValueMemberNULL{Value: true},
				"SS": &types.AttributeValueMemberSS{Value: []string{"a"}},
				"NS": &types.AttributeValueMemberNS{Value: []string{"1"}},
				"BS": &types.AttributeValueMemberBS{Value: [][]byte{[]byte("x")}},
				"L":  &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: "v"}}},
				"M":  &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": &types.AttributeValueMemberN{Value: "2"}}},
			},
			SequenceNumber: aws.String("000000000000000000001"), SizeBytes: aws.Int64(24), StreamViewType: types.StreamViewTypeNewAndOldImages,
		},
	}
	e, err := StreamEvent("arn:stream", r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"awsRegion":"us-east-1","dynamodb":{"ApproximateCreationDateTime":1795608100,"Keys":{"Id":{"S":"sku#MUG"}},` +
		`"NewImage":{"B":{"B":"aGk="},"BS":{"BS":["eA=="]},"Id":{"S":"sku#MUG"},"L":{"L":[{"S":"v"}]},"M":{"M":{"k":{"N":"2"}}},` +
		`"N":{"N":"4"},"NS":{"NS":["1"]},"SS":{"SS":["a"]},"T":{"BOOL":true},"Z":{"NULL":true}},` +
		`"SequenceNumber":"000000000000000000001","SizeBytes":24,"StreamViewType":"NEW_AND_OLD_IMAGES"},` +
		`"eventID":"e-1","eventName":"INSERT","eventSource":"aws:dynamodb","eventVersion":"1.1","eventSourceARN":"arn:stream"}`
	if string(got) != want {
		t.Errorf("record as Lambda delivers it:\n got %s\nwant %s", got, want)
	}
	if !skuRecord(e) {
		t.Error("skuRecord refused a SKU item's record")
	}
	e.Change.Keys["Id"] = events.NewStringAttribute("account#42")
	if skuRecord(e) {
		t.Error("skuRecord kept an account's record")
	}
}

func TestLessSeq(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{{"1", "2", true}, {"2", "10", true}, {"10", "9", false}, {"5", "5", false}, {"000000000000000000009", "000000000000000000010", true}} {
		if got := lessSeq(tt.a, tt.b); got != tt.want {
			t.Errorf("lessSeq(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
