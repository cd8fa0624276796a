package middleware

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// partitionDomains are the DNS suffixes of SQS's endpoints per AWS
// partition, as in the SDK's endpoint rules (partitions.json).
var partitionDomains = map[string]string{
	"aws":        "amazonaws.com",
	"aws-cn":     "amazonaws.com.cn",
	"aws-us-gov": "amazonaws.com",
	"aws-iso":    "c2s.ic.gov",
	"aws-iso-b":  "sc2s.sgov.gov",
	"aws-iso-e":  "cloud.adc-e.uk",
	"aws-iso-f":  "csp.hci.ic.gov",
	"aws-eusc":   "amazonaws.eu",
}

// queueURL returns the URL of the SQS queue an ARN names, as GetQueueUrl
// would return it: "arn:aws:sqs:us-east-1:123456789012:orders.fifo" →
// "https://sqs.us-east-1.amazonaws.com/123456789012/orders.fifo", the
// domain being the partition's (amazonaws.com.cn in aws-cn). It sends no
// request. It fails on an ARN that is not an SQS queue's, or of an unknown
// partition.
func queueURL(queueARN string) (string, error) {
	a, err := arn.Parse(queueARN)
	if err != nil {
		return "", fmt.Errorf("middleware: queue ARN %q: %w", queueARN, err)
	}
	domain, ok := partitionDomains[a.Partition]
	switch {
	case a.Service != "sqs" || a.Region == "" || a.AccountID == "" || a.Resource == "":
		return "", fmt.Errorf("middleware: %q is not an SQS queue's ARN (arn:PARTITION:sqs:REGION:ACCOUNT:QUEUE)", queueARN)
	case !ok:
		return "", fmt.Errorf("middleware: queue ARN %q: unknown partition %q", queueARN, a.Partition)
	}
	return "https://sqs." + a.Region + "." + domain + "/" + a.AccountID + "/" + a.Resource, nil
}

// capCache holds the queues' attributes, read once per queue.
type capCache struct {
	mu sync.Mutex // protects m
	m  map[string]*capEntry
}

// capEntry is one queue's attributes, or the read in progress.
type capEntry struct {
	done chan struct{} // closed when the read is over
	q    queueAttrs
	err  error
}

// queueAttrs are the attributes of a queue the backoff follows.
type queueAttrs struct {
	// visibility is the queue's visibility timeout.
	visibility time.Duration
	// maxReceives is its redrive policy's maxReceiveCount; 0 without one.
	maxReceives int
}

func newCapCache() *capCache { return &capCache{m: map[string]*capEntry{}} }

// start begins reading url's visibility timeout under ctx unless it is
// known or being read, and returns its entry, and whether this call
// started the read: then the caller must wait for the entry's done before
// its invocation returns, so that no request outlives it. A failed read
// is forgotten, so a later batch reads again.
func (c *capCache) start(ctx context.Context, client SQSVisibilityAPI, url string) (*capEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[url]; ok {
		return e, false
	}
	e := &capEntry{done: make(chan struct{})}
	c.m[url] = e
	go func() {
		defer close(e.done)
		e.q, e.err = readAttributes(ctx, client, url)
		if e.err != nil {
			c.mu.Lock()
			delete(c.m, url)
			c.mu.Unlock()
		}
	}()
	return e, true
}

// wait returns the entry's attributes once read, or ctx's error.
func (e *capEntry) wait(ctx context.Context) (queueAttrs, error) {
	select {
	case <-e.done:
		return e.q, e.err
	case <-ctx.Done():
		return queueAttrs{}, fmt.Errorf("middleware: reading the queue's attributes: %w", context.Cause(ctx))
	}
}

// readAttributes reads the queue's VisibilityTimeout and RedrivePolicy.
func readAttributes(ctx context.Context, client SQSVisibilityAPI, url string) (queueAttrs, error) {
	out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameVisibilityTimeout, types.QueueAttributeNameRedrivePolicy},
	})
	if err != nil {
		return queueAttrs{}, fmt.Errorf("middleware: reading the attributes of %s: %w", url, err)
	}
	v := out.Attributes[string(types.QueueAttributeNameVisibilityTimeout)]
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return queueAttrs{}, fmt.Errorf("middleware: queue %s: VisibilityTimeout %q is not a number of seconds", url, v)
	}
	q := queueAttrs{visibility: time.Duration(n) * time.Second}
	if p := out.Attributes[string(types.QueueAttributeNameRedrivePolicy)]; p != "" {
		// {"deadLetterTargetArn":"…","maxReceiveCount":5}; SQS has
		// written the count both as a number and as a string.
		var rp struct {
			MaxReceiveCount json.Number `json:"maxReceiveCount"`
		}
		d := json.NewDecoder(strings.NewReader(p))
		d.UseNumber()
		m, err := 0, d.Decode(&rp)
		if err == nil {
			m, err = strconv.Atoi(strings.Trim(rp.MaxReceiveCount.String(), `"`))
		}
		if err != nil || m < 1 {
			return queueAttrs{}, fmt.Errorf("middleware: queue %s: RedrivePolicy %s has no maxReceiveCount", url, p)
		}
		q.maxReceives = m
	}
	return q, nil
}
