package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// maxFuzzInput bounds the events the fuzz targets decode.
const maxFuzzInput = 64 << 10

// seedEvents adds every sample event in events/ to f's corpus, once per
// expression.
func seedEvents(f *testing.F, exprs ...string) {
	files, err := filepath.Glob(filepath.Join("..", "events", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no sample events in ../events: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		for _, expr := range exprs {
			f.Add(b, expr)
		}
	}
}

// derive derives the keys of ev with k and checks them (checkDerived),
// unless k cannot work at all: an expression that does not compile, a
// configuration error (lock.ErrInvalidInput), which the wrapper given k
// reports when it is built.
func derive[T any](t *testing.T, k middleware.Key[T], ev T) {
	t.Helper()
	keys, err := middleware.EvalKey(context.Background(), k, ev)
	if errors.Is(err, lock.ErrInvalidInput) {
		if errors.Is(err, middleware.ErrNoKey) || !strings.Contains(err.Error(), "invalid JMESPath expression") {
			t.Fatalf("configuration error %v: not an expression that does not compile", err)
		}
		return
	}
	checkDerived(t, keys, err)
}

// checkDerived checks what a Key derived: an error matching ErrNoKey that
// names the expression or field read, or non-empty keys whose lock IDs
// are valid.
func checkDerived(t *testing.T, keys []string, err error) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, middleware.ErrNoKey) || !strings.HasPrefix(err.Error(), "middleware: no lock key from ") ||
			strings.HasPrefix(err.Error(), "middleware: no lock key from :") {
			t.Fatalf("error %v does not match ErrNoKey naming its expression", err)
		}
		return
	}
	if len(keys) == 0 {
		t.Fatal("no keys and no error")
	}
	for _, k := range keys {
		if strings.TrimSpace(k) == "" {
			t.Fatalf("blank key in %q", keys)
		}
		if id := middleware.LockID("fn", k); !validLockID(id) {
			t.Fatalf("key %q gives invalid lock ID %q", k, id)
		}
	}
}

// FuzzSQSKeys decodes an SQS batch and derives each record's keys from its
// body with a JMESPath expression, its attributes and its group.
func FuzzSQSKeys(f *testing.F) {
	seedEvents(f, "sku", "[sku, orderId]", "quantity", "items[*].sku", "missing")
	f.Fuzz(func(t *testing.T, data []byte, expr string) {
		if len(data) > maxFuzzInput {
			return
		}
		var batch events.SQSEvent
		if json.Unmarshal(data, &batch) != nil {
			return
		}
		fns := []middleware.Key[events.SQSMessage]{
			middleware.JMESPath[events.SQSMessage]("messageAttributes.tenant.stringValue"), middleware.SQSMessageGroupID(), middleware.SQSMessageID(),
			middleware.SQSBody(expr), middleware.JMESPath[events.SQSMessage](expr),
		}
		for _, m := range batch.Records {
			for _, k := range fns {
				derive(t, k, m)
			}
		}
	})
}

// FuzzEventBridgeKeys decodes an EventBridge event and derives its keys
// every way there is.
func FuzzEventBridgeKeys(f *testing.F) {
	seedEvents(f, "accountId", "detail.accountId", "resources[0]", "[detail.from, detail.to]", "amount")
	f.Fuzz(func(t *testing.T, data []byte, expr string) {
		if len(data) > maxFuzzInput {
			return
		}
		var ev events.EventBridgeEvent
		if json.Unmarshal(data, &ev) != nil {
			return
		}
		fns := []middleware.Key[events.EventBridgeEvent]{
			middleware.EventBridgeID(), middleware.JMESPath[events.EventBridgeEvent]("resources[0]"),
			middleware.EventBridgeDetail(expr), middleware.JMESPath[events.EventBridgeEvent](expr),
		}
		derive(t, middleware.JMESPath[json.RawMessage](expr), json.RawMessage(data))
		for _, k := range fns {
			derive(t, k, ev)
		}
	})
}

// FuzzLockID checks that every namespace and key give a valid lock ID,
// always the same one, left as it is when it fits and readable when not.
func FuzzLockID(f *testing.F) {
	f.Add("reserve-stock", "BLUE-MUG")
	f.Add("", "arn:aws:events:us-east-1:123456789012:rule/nightly-rollup")
	f.Add("ns", strings.Repeat("é", maxLockIDBytes))
	f.Add("ns", "a\xffb")
	f.Fuzz(func(t *testing.T, ns, key string) {
		id := middleware.LockID(ns, key)
		if !validLockID(id) && key+ns != "" {
			t.Fatalf("LockID(%q, %q) = %q: not a DynamoDB key", ns, key, id)
		}
		if !utf8.ValidString(id) || id != middleware.LockID(ns, key) {
			t.Fatalf("LockID(%q, %q) = %q: invalid or not deterministic", ns, key, id)
		}
		full := key
		if ns != "" {
			full = ns + "/" + key
		}
		if len(full) <= maxLockIDBytes && utf8.ValidString(full) {
			if id != full {
				t.Fatalf("LockID(%q, %q) = %q, want it unchanged", ns, key, id)
			}
		} else if !strings.Contains(id, "#sha256:") {
			t.Fatalf("LockID(%q, %q) = %q: shortened without its hash", ns, key, id)
		}
		if ns != "" && len(ns) < 1000 && utf8.ValidString(ns) && !strings.HasPrefix(id, ns+"/") {
			t.Fatalf("LockID(%q, %q) = %q lost its namespace", ns, key, id)
		}
	})
}

// FuzzSQSBatch runs decoded SQS batches through WrapSQS against DynamoDB
// Local and checks the batch item failures against the rules: a record
// fails exactly when it has no key, its handler fails (its body contains
// "fail"), or, on a FIFO queue, an earlier record of its group failed.
func FuzzSQSBatch(f *testing.F) {
	seedEvents(f, "")
	f.Add([]byte(`{"Records":[{"messageId":"a","body":"{\"sku\":\"X\",\"fail\":1}","attributes":{"MessageGroupId":"g"}},{"messageId":"b","body":"{\"sku\":\"Y\"}","attributes":{"MessageGroupId":"g"}},{"body":"nope"}]}`), "")
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, data []byte, _ string) {
		if len(data) > maxFuzzInput {
			return
		}
		var batch events.SQSEvent
		if json.Unmarshal(data, &batch) != nil || len(batch.Records) > 20 {
			return
		}
		for i := range batch.Records {
			batch.Records[i].MessageId = fmt.Sprint(i) // unique, as SQS makes them
		}
		key := middleware.SQSBody("sku")
		var mu sync.Mutex
		ran := map[string]bool{}
		h := must(middleware.WrapSQS(e.c, key, func(ctx context.Context, m events.SQSMessage) error {
			mu.Lock()
			ran[m.MessageId] = true
			mu.Unlock()
			if strings.Contains(m.Body, "fail") {
				return errors.New("fail")
			}
			return nil
		}, middleware.WithNamespace("fuzz"), middleware.WithLogger(discardLogger())))(t)
		resp, err := h(context.Background(), batch)
		failed := map[string]bool{}
		for _, bf := range resp.BatchItemFailures {
			failed[bf.ItemIdentifier] = true
		}
		groupFailed := map[string]bool{}
		for _, m := range batch.Records {
			_, keyErr := middleware.EvalKey(context.Background(), key, m)
			group, fifo := m.Attributes["MessageGroupId"]
			fifo = fifo || strings.HasSuffix(m.EventSourceARN, ".fifo")
			want := keyErr != nil || (fifo && groupFailed[group]) || (ran[m.MessageId] && strings.Contains(m.Body, "fail"))
			if failed[m.MessageId] != want {
				t.Fatalf("record %s (body %q, key error %v): failed %v, want %v", m.MessageId, m.Body, keyErr, failed[m.MessageId], want)
			}
			if want && fifo {
				groupFailed[group] = true
			}
			if !want && !ran[m.MessageId] {
				t.Fatalf("record %s neither failed nor ran", m.MessageId)
			}
		}
		if all := len(batch.Records) > 0 && len(failed) == len(batch.Records); all != errors.Is(err, middleware.ErrBatchFailed) || (!all && err != nil) {
			t.Fatalf("error %v with %d of %d records failed", err, len(failed), len(batch.Records))
		}
	})
}
