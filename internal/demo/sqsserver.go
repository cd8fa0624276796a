package demo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// SQS is the demo's stand-in for Amazon SQS: the queues the demo's poller
// delivers from, and an HTTP server speaking SQS's JSON protocol (AWS JSON
// 1.0: POST / with X-Amz-Target: AmazonSQS.<Operation>) for the calls the
// functions make through the AWS SDK: ChangeMessageVisibilityBatch,
// ChangeMessageVisibility and GetQueueAttributes (VisibilityTimeout,
// RedrivePolicy). No
// SQS emulator that speaks the current SDK's protocol can be installed
// here; the functions reach this one through AWS_ENDPOINT_URL_SQS.
type SQS struct {
	// Endpoint is the server's URL, for AWS_ENDPOINT_URL_SQS.
	Endpoint string

	srv *http.Server
	mu  sync.Mutex // protects queues
	// queues by URL; each DeliverSQS replaces those it uses.
	queues map[string]*sqsQueue
}

// StartSQS starts the stand-in on a free loopback port.
func StartSQS() (*SQS, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: SQS stand-in: %w", err)
	}
	s := &SQS{Endpoint: "http://" + l.Addr().String(), queues: map[string]*sqsQueue{}}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

// Close stops the server.
func (s *SQS) Close() {
	if s != nil {
		_ = s.srv.Close()
	}
}

// queue returns a new queue for arn, replacing any earlier one.
func (s *SQS) queue(arn string, cfg Queue) (*sqsQueue, error) {
	q, err := newQueue(arn, cfg)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queues[q.url] = q
	return q, nil
}

func (s *SQS) lookup(url string) *sqsQueue {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queues[url]
}

// sqsError is an error response of the JSON protocol.
type sqsError struct {
	status int
	code   string
	msg    string
}

func (s *SQS) serve(w http.ResponseWriter, r *http.Request) {
	out, err := s.call(r)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	var e *sqsError
	if errors.As(err, &e) {
		w.Header().Set("x-amzn-query-error", e.code+";Sender")
		w.WriteHeader(e.status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.sqs#" + e.code, "message": e.msg})
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

func (e *sqsError) Error() string { return e.code + ": " + e.msg }

// call serves one request.
func (s *SQS) call(r *http.Request) (any, error) {
	target, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.")
	if r.Method != http.MethodPost || r.URL.Path != "/" || !ok || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json-1.0") {
		return nil, &sqsError{http.StatusBadRequest, "InvalidAction", "want POST / with X-Amz-Target: AmazonSQS.<Operation> and application/x-amz-json-1.0"}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, &sqsError{http.StatusBadRequest, "InvalidParameterValue", err.Error()}
	}
	var in struct {
		QueueURL          string `json:"QueueUrl"`
		ReceiptHandle     string
		VisibilityTimeout *int
		Entries           []struct {
			ID                string `json:"Id"`
			ReceiptHandle     string
			VisibilityTimeout int
		}
		AttributeNames []string
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, &sqsError{http.StatusBadRequest, "InvalidParameterValue", err.Error()}
	}
	q := s.lookup(in.QueueURL)
	if q == nil {
		return nil, &sqsError{http.StatusBadRequest, "QueueDoesNotExist", "no queue " + in.QueueURL}
	}
	now := time.Now()
	switch target {
	case "ChangeMessageVisibilityBatch":
		if len(in.Entries) == 0 || len(in.Entries) > 10 {
			return nil, &sqsError{http.StatusBadRequest, "TooManyEntriesInBatchRequest", fmt.Sprintf("%d entries", len(in.Entries))}
		}
		ok, failed := []any{}, []any{}
		for _, e := range in.Entries {
			if err := checkVisibility(e.VisibilityTimeout); err != nil {
				failed = append(failed, map[string]any{"Id": e.ID, "Code": "InvalidParameterValue", "Message": err.Error(), "SenderFault": true})
				continue
			}
			if err := q.changeVisibility(e.ReceiptHandle, time.Duration(e.VisibilityTimeout)*time.Second, now); err != nil {
				failed = append(failed, map[string]any{"Id": e.ID, "Code": err.Error(), "Message": err.Error(), "SenderFault": true})
				continue
			}
			ok = append(ok, map[string]string{"Id": e.ID})
		}
		return map[string]any{"Successful": ok, "Failed": failed}, nil
	case "ChangeMessageVisibility":
		if in.VisibilityTimeout == nil {
			return nil, &sqsError{http.StatusBadRequest, "MissingParameter", "VisibilityTimeout"}
		}
		if err := checkVisibility(*in.VisibilityTimeout); err != nil {
			return nil, &sqsError{http.StatusBadRequest, "InvalidParameterValue", err.Error()}
		}
		if err := q.changeVisibility(in.ReceiptHandle, time.Duration(*in.VisibilityTimeout)*time.Second, now); err != nil {
			return nil, &sqsError{http.StatusBadRequest, err.Error(), in.ReceiptHandle}
		}
		return map[string]any{}, nil
	case "GetQueueAttributes":
		redrive, _ := json.Marshal(map[string]any{"deadLetterTargetArn": q.arn + "-dlq", "maxReceiveCount": q.cfg.MaxReceives})
		return map[string]any{"Attributes": map[string]string{
			"VisibilityTimeout": strconv.Itoa(int(q.cfg.Visibility / time.Second)),
			"RedrivePolicy":     string(redrive),
		}}, nil
	}
	return nil, &sqsError{http.StatusBadRequest, "UnsupportedOperation", "the demo's SQS stand-in does not serve " + target}
}

// checkVisibility refuses what SQS refuses: a visibility timeout outside
// 0 s to 12 h.
func checkVisibility(secs int) error {
	if secs < 0 || secs > 43200 {
		return fmt.Errorf("VisibilityTimeout %d is not between 0 and 43200", secs)
	}
	return nil
}

// send sends the records of batches to their queues (by eventSourceARN),
// creating the queues with cfg, and returns the queues in order.
func (s *SQS) send(batches []events.SQSEvent, cfg Queue, now time.Time) ([]*sqsQueue, error) {
	var qs []*sqsQueue
	byARN := map[string]*sqsQueue{}
	for _, b := range batches {
		for _, r := range b.Records {
			q, ok := byARN[r.EventSourceARN]
			if !ok {
				var err error
				if q, err = s.queue(r.EventSourceARN, cfg); err != nil {
					return nil, err
				}
				byARN[r.EventSourceARN] = q
				qs = append(qs, q)
			}
			q.send(r, now)
		}
	}
	return qs, nil
}
