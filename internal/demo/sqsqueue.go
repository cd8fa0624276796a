package demo

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Queue is how the demo's SQS stand-in keeps a queue: its visibility
// timeout, redrive policy and the batch size of its event source mapping.
type Queue struct {
	// Visibility is how long a received message stays invisible unless a
	// ChangeMessageVisibility says otherwise: the queue's visibility
	// timeout, which the demo scales with the functions' timeout as the
	// stack does (VisibilityTimeoutFactor × Timeout).
	Visibility time.Duration
	// MaxReceives is how often a message may be received; the receive
	// after that moves it to the dead-letter queue (maxReceiveCount).
	MaxReceives int
	// BatchSize is the most messages one invocation gets (10 if 0).
	BatchSize int
}

// Queue settings of the demo's queues.
const (
	// VisibilityTimeoutFactor is the source queues' visibility timeout in
	// function timeouts, as in the stack (infra/stack).
	VisibilityTimeoutFactor = 6
	// MaxReceiveCount is the source queues' maxReceiveCount. The stack's
	// is 5; the demo's load puts 40 orders on one SKU from four
	// environments at once, and on FIFO queues a held record fails the
	// later records of its group too, so a record may find its SKU held
	// more often than that (dead-lettering some, measured, with either
	// redelivery): the demo's queues allow 10, as the middleware's doc
	// advises for keys under heavy contention.
	MaxReceiveCount = 10
	// BatchSize is the event source mappings' batch size, as in the stack.
	BatchSize = 10
)

// StackQueue returns the demo's queue settings, scaled to its function
// timeout: the visibility timeout is VisibilityTimeoutFactor × Timeout
// (18 s for 3 s, 180 s in the stack for 30 s).
func StackQueue() Queue {
	return Queue{Visibility: VisibilityTimeoutFactor * Timeout * time.Second, MaxReceives: MaxReceiveCount, BatchSize: BatchSize}
}

// sqsQueue is one queue of the stand-in. Its methods are safe for
// concurrent use.
type sqsQueue struct {
	url, arn string
	fifo     bool
	cfg      Queue

	mu      sync.Mutex // protects the fields below
	msgs    []*message // in the order sent
	dead    []string   // message IDs moved to the dead-letter queue
	changes int        // visibility changes honoured
	serial  int        // receipt handles handed out
}

// message is one message of a queue.
type message struct {
	rec       events.SQSMessage // as sent: ID, body, attributes
	group     string            // FIFO: its message group
	sent      time.Time
	receives  int
	visibleAt time.Time
	handle    string // the receipt handle of its latest receive
	deleted   bool
	dead      bool
}

func (m *message) inFlight(now time.Time) bool {
	return m.handle != "" && now.Before(m.visibleAt)
}

func newQueue(arn string, cfg Queue) (*sqsQueue, error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[2] != "sqs" {
		return nil, fmt.Errorf("demo: %q is not an SQS queue ARN", arn)
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = BatchSize
	}
	url := "https://sqs." + parts[3] + ".amazonaws.com/" + parts[4] + "/" + parts[5]
	return &sqsQueue{url: url, arn: arn, fifo: strings.HasSuffix(parts[5], ".fifo"), cfg: cfg}, nil
}

// send adds a record to the queue, visible at once.
func (q *sqsQueue) send(r events.SQSMessage, now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.msgs = append(q.msgs, &message{rec: r, group: r.Attributes["MessageGroupId"], sent: now, visibleAt: now})
}

// receive returns up to the batch size of visible messages, as SQS does:
// each one's ApproximateReceiveCount up by one, a new receipt handle, and
// invisible for the visibility timeout. A message received MaxReceives
// times already goes to the dead-letter queue instead. On a FIFO queue, a
// message group with a message in flight returns nothing, and a group's
// messages come in order.
func (q *sqsQueue) receive(now time.Time) []events.SQSMessage {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []events.SQSMessage
	blocked := map[string]bool{}
	for _, m := range q.msgs {
		if len(out) == q.cfg.BatchSize {
			break
		}
		if m.deleted || m.dead {
			continue
		}
		if q.fifo && blocked[m.group] {
			continue
		}
		if m.inFlight(now) || now.Before(m.visibleAt) {
			blocked[m.group] = true
			continue
		}
		if m.receives >= q.cfg.MaxReceives {
			m.dead = true
			q.dead = append(q.dead, m.rec.MessageId)
			continue
		}
		m.receives++
		q.serial++
		m.handle = fmt.Sprintf("%s#%d", m.rec.MessageId, q.serial)
		m.visibleAt = now.Add(q.cfg.Visibility)
		r := m.rec
		attrs := make(map[string]string, len(r.Attributes)+1)
		for k, v := range r.Attributes {
			attrs[k] = v
		}
		attrs["ApproximateReceiveCount"] = strconv.Itoa(m.receives)
		r.Attributes, r.ReceiptHandle, r.EventSourceARN = attrs, m.handle, q.arn
		out = append(out, r)
	}
	return out
}

// errNotInFlight and errBadHandle are the stand-in's answers to a change
// or delete of a message that is not in flight under that receipt handle.
var (
	errNotInFlight = errors.New("MessageNotInflight")
	errBadHandle   = errors.New("ReceiptHandleIsInvalid")
)

// find returns the message whose latest receipt handle is handle.
func (q *sqsQueue) find(handle string) *message {
	for _, m := range q.msgs {
		if m.handle == handle {
			return m
		}
	}
	return nil
}

// delete deletes the message received with handle, as Lambda does with
// the records an invocation processed; it reports when it was sent.
func (q *sqsQueue) delete(handle string) (time.Time, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	m := q.find(handle)
	if m == nil || m.deleted || m.dead {
		return time.Time{}, errBadHandle
	}
	m.deleted = true
	return m.sent, nil
}

// changeVisibility makes the in-flight message received with handle
// visible d from now, as ChangeMessageVisibility does.
func (q *sqsQueue) changeVisibility(handle string, d time.Duration, now time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	m := q.find(handle)
	switch {
	case m == nil || m.deleted || m.dead:
		return errBadHandle
	case !m.inFlight(now):
		return errNotInFlight
	}
	m.visibleAt = now.Add(d)
	q.changes++
	return nil
}

// settled reports whether every message was deleted or dead-lettered.
func (q *sqsQueue) settled() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range q.msgs {
		if !m.deleted && !m.dead {
			return false
		}
	}
	return true
}

// stats returns the redeliveries (receives after the first), the
// visibility changes honoured and the dead-lettered message IDs.
func (q *sqsQueue) stats() (redelivered, changes int, dead []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range q.msgs {
		redelivered += max(m.receives-1, 0)
	}
	return redelivered, q.changes, append([]string(nil), q.dead...)
}
