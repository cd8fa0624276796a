package middleware_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/dynalock/dynalock/internal/dynamotest"
)

// sqsServer is an httptest server speaking the SQS JSON protocol (AWS JSON
// 1.0: POST / with X-Amz-Target AmazonSQS.<Operation>) for the two calls
// the visibility backoff makes. It records every request; hooks change
// its answers.
type sqsServer struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex // protects the fields below
	requests []sqsRequest
	// visibility is the VisibilityTimeout GetQueueAttributes reports.
	visibility string
	// redrive is the RedrivePolicy it reports; none when empty.
	redrive string
	// onChange, when set, answers a ChangeMessageVisibilityBatch request:
	// the status and body to send back (status 0: the default success).
	onChange func(sqsRequest) (int, string)
	// onAttributes, likewise, for GetQueueAttributes.
	onAttributes func(sqsRequest) (int, string)
	// delay holds back the answers of an operation (by name) that long, or
	// until the client hangs up: a slow SQS.
	delay map[string]time.Duration
}

// sqsRequest is one request as the server read it.
type sqsRequest struct {
	Op          string // the operation, from X-Amz-Target
	ContentType string
	QueueURL    string `json:"QueueUrl"`
	Entries     []sqsEntry
	Attributes  []string `json:"AttributeNames"`
}

// sqsEntry is one ChangeMessageVisibilityBatch entry.
type sqsEntry struct {
	ID                string `json:"Id"`
	ReceiptHandle     string
	VisibilityTimeout int
}

func newSQSServer(t testing.TB) *sqsServer {
	s := &sqsServer{t: t, visibility: "180"}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sqsServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req sqsRequest
	if r.Method != http.MethodPost || r.URL.Path != "/" || json.Unmarshal(body, &req) != nil {
		s.t.Errorf("SQS request %s %s %s: not the JSON protocol", r.Method, r.URL.Path, body)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	req.Op = strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.")
	req.ContentType = r.Header.Get("Content-Type")
	s.mu.Lock()
	s.requests = append(s.requests, req)
	onChange, onAttributes, vis, redrive, delay := s.onChange, s.onAttributes, s.visibility, s.redrive, s.delay[req.Op]
	s.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return // the client gave up: nobody reads the answer
		}
	}
	status, out := 0, ""
	switch req.Op {
	case "ChangeMessageVisibilityBatch":
		if onChange != nil {
			status, out = onChange(req)
		}
		if status == 0 {
			var ok []map[string]string
			for _, e := range req.Entries {
				ok = append(ok, map[string]string{"Id": e.ID})
			}
			b, _ := json.Marshal(map[string]any{"Successful": ok, "Failed": []any{}})
			status, out = http.StatusOK, string(b)
		}
	case "GetQueueAttributes":
		if onAttributes != nil {
			status, out = onAttributes(req)
		}
		if status == 0 {
			attrs := map[string]string{"VisibilityTimeout": vis}
			if redrive != "" {
				attrs["RedrivePolicy"] = redrive
			}
			b, _ := json.Marshal(map[string]any{"Attributes": attrs})
			status, out = http.StatusOK, string(b)
		}
	default:
		s.t.Errorf("unexpected SQS operation %q", req.Op)
		status, out = http.StatusBadRequest, `{"__type":"com.amazonaws.sqs#InvalidAction","message":"unexpected"}`
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, out)
}

// client returns an SDK SQS client of the server, without retries, so
// that a test's failures are answered once.
func (s *sqsServer) client() *sqs.Client {
	return sqs.New(sqs.Options{
		Region:       dynamotest.Region,
		BaseEndpoint: aws.String(s.srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		Retryer:      aws.NopRetryer{},
	})
}

// ops returns the requests of operation op.
func (s *sqsServer) ops(op string) []sqsRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sqsRequest
	for _, r := range s.requests {
		if r.Op == op {
			out = append(out, r)
		}
	}
	return out
}

// changes returns the ChangeMessageVisibilityBatch requests' entries by
// receipt handle.
func (s *sqsServer) changes() map[string]int {
	out := map[string]int{}
	for _, r := range s.ops("ChangeMessageVisibilityBatch") {
		for _, e := range r.Entries {
			out[e.ReceiptHandle] = e.VisibilityTimeout
		}
	}
	return out
}

// total returns how many requests the server got.
func (s *sqsServer) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}
