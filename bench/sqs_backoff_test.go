package bench_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/internal/lockopt"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// BenchmarkSQSBackoff measures what WithVisibilityBackoff adds to an SQS
// batch's wall time, with simulatedRTT added to every DynamoDB and SQS
// request: a batch of 10 records with distinct keys, of which held (5 or
// 10) are held by another holder, through a handler that does nothing;
// without the backoff (off) and with it (on: one
// ChangeMessageVisibilityBatch per batch to a local server speaking the
// SQS JSON protocol). With 5 held, the request goes out once every record
// has taken its lock or failed, beside the other 5 records' releases, so
// it should add nothing; with all 10 held there is no release to hide it
// behind, and it adds one round trip. It reports the median batch time
// and the SQS requests per batch.
func BenchmarkSQSBackoff(b *testing.B) {
	ctx := context.Background()
	delay := func(httpfault.Request) httpfault.Action { return httpfault.Action{Delay: simulatedRTT} }
	ddbNet := &httpfault.Client{Next: newHTTPClient(), Rule: delay}
	db := srv.Client(func(o *dynamodb.Options) { o.HTTPClient = ddbNet })
	table := lockTable(b, db)
	c, err := newClient(db, table, lock.Config{})
	if err != nil {
		b.Fatal(err)
	}
	other, err := newClient(srv.Client(), table, lock.Config{Owner: "other holder"})
	if err != nil {
		b.Fatal(err)
	}
	sqsSrv := httptest.NewServer(http.HandlerFunc(serveSQS))
	defer sqsSrv.Close()
	sqsNet := &httpfault.Client{Next: newHTTPClient(), Rule: delay}
	client := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(sqsSrv.URL), HTTPClient: sqsNet,
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	bySKU := middleware.SQSBody("sku")
	nothing := func(context.Context, events.SQSMessage) error { return nil }
	quiet := middleware.WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil)))
	for _, held := range []int{5, 10} {
		batch := events.SQSEvent{Records: make([]events.SQSMessage, batchSize)}
		for i := range batch.Records {
			sku := fmt.Sprintf("backoff-%d-sku-%d", held, i)
			batch.Records[i] = events.SQSMessage{
				MessageId:      fmt.Sprint("m-", i),
				ReceiptHandle:  fmt.Sprint("rh-", i),
				Body:           fmt.Sprintf(`{"sku":%q,"quantity":1}`, sku),
				EventSource:    "aws:sqs",
				EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:orders",
				Attributes:     map[string]string{"ApproximateReceiveCount": "1"},
			}
			if i < held {
				// The lock ID the middleware takes: namespace/key. The hour's
				// lease is a per-call TTL, which only the module's own code can set.
				if _, err := other.Lock("bench/"+sku).Acquire(ctx, lockopt.TTL(time.Hour)); err != nil {
					b.Fatal(err)
				}
			}
		}
		for _, impl := range []string{"off", "on"} {
			opts := []middleware.Option{quiet, middleware.WithNamespace("bench")}
			if impl == "on" {
				opts = append(opts, middleware.WithVisibilityBackoff(client))
			}
			h := wrapSQS(b, c, bySKU, nothing, opts...)
			b.Run(fmt.Sprintf("rtt=10ms/held=%d/backoff=%s", held, impl), func(b *testing.B) {
				runHeldBatches(b, h, batch, held, sqsNet)
			})
		}
	}
}

// runHeldBatches invokes h with batch b.N times after 20 to warm up (the
// first reads the queue's attributes), each under a Lambda context with a
// 30 s deadline, and reports the median batch time and the SQS requests
// per batch.
func runHeldBatches(b *testing.B, h sqsHandler, batch events.SQSEvent, held int, sqsNet *httpfault.Client) {
	invoke := func(i int) time.Duration {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: fmt.Sprint("req-", i)})
		start := time.Now()
		resp, _ := h(ctx, batch)
		d := time.Since(start)
		if len(resp.BatchItemFailures) != held {
			b.Fatalf("%d records failed, want the %d held", len(resp.BatchItemFailures), held)
		}
		return d
	}
	for i := range 20 { // DynamoDB Local's JIT, the queue's attributes
		invoke(-1 - i)
	}
	b.ReportAllocs()
	lat := make([]time.Duration, 0, b.N)
	n := sqsNet.Total()
	b.ResetTimer()
	for i := range b.N {
		lat = append(lat, invoke(i))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(sqsNet.Total()-n)/float64(b.N), "sqs-req/op")
	b.ReportMetric(ms(quantile(lat, 0.5)), "p50-ms")
}

// serveSQS answers the SQS JSON protocol's GetQueueAttributes and
// ChangeMessageVisibilityBatch, every entry successful.
func serveSQS(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Entries []struct {
			ID string `json:"Id"`
		}
	}
	_ = json.NewDecoder(r.Body).Decode(&in)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	switch r.Header.Get("X-Amz-Target") {
	case "AmazonSQS.GetQueueAttributes":
		_, _ = io.WriteString(w, `{"Attributes":{"VisibilityTimeout":"180"}}`)
	case "AmazonSQS.ChangeMessageVisibilityBatch":
		ok := []map[string]string{}
		for _, e := range in.Entries {
			ok = append(ok, map[string]string{"Id": e.ID})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"Successful": ok, "Failed": []any{}})
	default:
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"__type":"com.amazonaws.sqs#InvalidAction","message":"unexpected"}`)
	}
}
