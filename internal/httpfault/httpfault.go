// Package httpfault sits between the AWS SDK and DynamoDB to count requests
// by operation and inject the faults that really happen: added latency,
// responses lost after DynamoDB applied the request, connections reset
// before it, server errors and throttling, and requests that land after
// their caller gave up on them.
package httpfault

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"
)

// HTTPClient is the SDK's HTTP client interface (aws.HTTPClient).
type HTTPClient interface {
	Do(*http.Request) (*http.Response, error)
}

// Kind is a fault.
type Kind int

// The faults Client injects.
const (
	// Pass sends the request and returns its response.
	Pass Kind = iota
	// DropResponse sends the request, lets DynamoDB apply it, then loses
	// the response: the SDK sees a connection reset.
	DropResponse
	// ResetBeforeSend fails with a connection reset before sending.
	ResetBeforeSend
	// ServerError answers 500 InternalServerError without sending.
	ServerError
	// Throttle answers 400 ThrottlingException without sending.
	Throttle
	// LandLate holds the request back for the action's Delay and then
	// sends it, detached from its caller: the caller gets its context's
	// error if its context ends first, or else a connection reset (which
	// the SDK retries), but never the response. It is a request stuck in
	// the network that DynamoDB applies after the caller gave up, or after
	// the SDK's retry. WaitLate waits until every such request has landed.
	LandLate
	numKinds
)

var kindNames = [...]string{"pass", "drop-response", "reset-before-send", "server-error", "throttle", "land-late"}

func (k Kind) String() string {
	if k >= 0 && k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Request is what a Rule sees of a request.
type Request struct {
	// Op is the DynamoDB operation, such as "UpdateItem".
	Op string
	// N counts requests of this Op through the Client, from 1.
	N int
	// Body is the request's JSON body.
	Body []byte
}

// Action is what a Rule decides for a request.
type Action struct {
	Kind  Kind
	Delay time.Duration // added before the request is sent (or faulted)
}

// Rule decides the fate of each request. A nil Rule passes everything.
type Rule func(Request) Action

// Client wraps an HTTP client. Its zero value is not usable: set Next.
type Client struct {
	Next HTTPClient
	Rule Rule

	mu     sync.Mutex // protects counts and faults
	counts map[string]int
	faults map[Kind]int
	late   sync.WaitGroup // LandLate requests not yet landed
}

// Do implements HTTPClient.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	op := req.Header.Get("X-Amz-Target")
	if i := strings.LastIndexByte(op, '.'); i >= 0 {
		op = op[i+1:]
	}
	var body []byte
	if req.Body != nil && c.Rule != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	c.mu.Lock()
	if c.counts == nil {
		c.counts, c.faults = map[string]int{}, map[Kind]int{}
	}
	c.counts[op]++
	n := c.counts[op]
	c.mu.Unlock()

	var act Action
	if c.Rule != nil {
		act = c.Rule(Request{Op: op, N: n, Body: body})
	}
	if act.Kind != Pass {
		c.mu.Lock()
		c.faults[act.Kind]++
		c.mu.Unlock()
	}
	if act.Kind == LandLate {
		return c.landLate(req, body, act.Delay)
	}
	if act.Delay > 0 {
		t := time.NewTimer(act.Delay)
		select {
		case <-req.Context().Done():
			t.Stop()
			return nil, req.Context().Err()
		case <-t.C:
		}
	}
	switch act.Kind {
	case ResetBeforeSend:
		return nil, reset()
	case ServerError:
		return errorResponse(req, 500, "InternalServerError"), nil
	case Throttle:
		return errorResponse(req, 400, "ThrottlingException"), nil
	}
	resp, err := c.Next.Do(req)
	if err != nil || act.Kind != DropResponse {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil, reset()
}

// landLate sends req after delay on a context of its own and tells the
// caller it failed: with its context's error if that ends first, or else
// with a connection reset once the delay has passed.
func (c *Client) landLate(req *http.Request, body []byte, delay time.Duration) (*http.Response, error) {
	late := req.Clone(context.WithoutCancel(req.Context()))
	late.Body = io.NopCloser(bytes.NewReader(body))
	landed := make(chan struct{})
	c.late.Add(1)
	go func() {
		defer c.late.Done()
		defer close(landed)
		time.Sleep(delay)
		if resp, err := c.Next.Do(late); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	select {
	case <-req.Context().Done():
		return nil, req.Context().Err()
	case <-landed:
		return nil, reset()
	}
}

// WaitLate waits until every LandLate request has been sent and answered.
func (c *Client) WaitLate() { c.late.Wait() }

// Count returns how many requests of op went through, faulted or not.
func (c *Client) Count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[op]
}

// Total returns how many requests went through, faulted or not.
func (c *Client) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.counts {
		n += v
	}
	return n
}

// Faults returns how many faults of each kind were injected.
func (c *Client) Faults() map[Kind]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[Kind]int, len(c.faults))
	for k, v := range c.faults {
		out[k] = v
	}
	return out
}

// Reset zeroes the counts.
func (c *Client) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts, c.faults = map[string]int{}, map[Kind]int{}
}

// reset is the error a reset connection gives; the SDK retries it.
func reset() error {
	return &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
}

func errorResponse(req *http.Request, status int, code string) *http.Response {
	body := fmt.Sprintf(`{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"injected by httpfault"}`, code)
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", status, http.StatusText(status)),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/x-amz-json-1.0"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}
