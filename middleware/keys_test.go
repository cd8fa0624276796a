package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

func str(s string) *string { return &s }

// maxLockIDBytes is DynamoDB's limit on a partition key, which every lock
// ID must fit.
const maxLockIDBytes = 2048

// validLockID reports whether id can be a lock ID: not empty, valid UTF-8,
// within DynamoDB's key limit.
func validLockID(id string) bool {
	return id != "" && len(id) <= maxLockIDBytes && utf8.ValidString(id)
}

func TestSQSKeys(t *testing.T) {
	t.Parallel()
	fifo := loadSQS(t, "sqs-fifo.json").Records[0]
	std := loadSQS(t, "sqs-standard.json").Records[0]
	withAttrs := std
	withAttrs.MessageAttributes = map[string]events.SQSMessageAttribute{
		"tenant":  {DataType: "String", StringValue: str("acme")},
		"regions": {DataType: "String.Array", StringListValues: []string{"eu", "us"}},
		"blob":    {DataType: "Binary", BinaryValue: []byte{1}},
		"blank":   {DataType: "String", StringValue: str("")},
	}
	attr := func(name string) middleware.Key[events.SQSMessage] {
		return middleware.JMESPath[events.SQSMessage]("messageAttributes." + name + ".stringValue")
	}
	for _, tc := range []struct {
		name string
		key  middleware.Key[events.SQSMessage]
		msg  events.SQSMessage
		want []string
		expr string // expression named by the error; empty when none
	}{
		{"body path", middleware.SQSBody("sku"), std, []string{"BLUE-MUG"}, ""},
		{"body path, several", middleware.SQSBody("[sku, orderId]"), std, []string{"BLUE-MUG", "o-1"}, ""},
		{"body path, number", middleware.SQSBody("quantity"), std, []string{"2"}, ""},
		{"body path, missing", middleware.SQSBody("customer.id"), std, nil, `"customer.id"`},
		{"body not JSON", middleware.SQSBody("sku"), events.SQSMessage{Body: "BLUE-MUG"}, nil, `"sku"`},
		{"body of two values", middleware.SQSBody("sku"), events.SQSMessage{Body: `{"sku":"a"} {}`}, nil, `"sku"`},
		{"message JSON path", middleware.JMESPath[events.SQSMessage]("messageAttributes.tenant.stringValue"), withAttrs, []string{"acme"}, ""},
		{"message JSON path to group", middleware.JMESPath[events.SQSMessage]("attributes.MessageGroupId"), fifo, []string{"customer-a"}, ""},
		// What SQSAttribute did, JMESPath does over the message.
		{"attribute", attr("tenant"), withAttrs, []string{"acme"}, ""},
		{"attribute list", middleware.JMESPath[events.SQSMessage]("messageAttributes.regions.stringListValues"), withAttrs, []string{"eu", "us"}, ""},
		{"attribute missing", attr("tenant"), std, nil, `"messageAttributes.tenant.stringValue"`},
		{"attribute binary", attr("blob"), withAttrs, nil, `"messageAttributes.blob.stringValue"`},
		{"attribute empty", attr("blank"), withAttrs, nil, `"messageAttributes.blank.stringValue"`},
		{"group", middleware.SQSMessageGroupID(), fifo, []string{"customer-a"}, ""},
		{"group on a standard queue", middleware.SQSMessageGroupID(), std, nil, "attribute MessageGroupId"},
		{"message ID", middleware.SQSMessageID(), std, []string{"std-msg-1"}, ""},
		{"constant", middleware.Constant[events.SQSMessage]("one"), std, []string{"one"}, ""},
		{"func", middleware.KeyFunc("order", func(_ context.Context, m events.SQSMessage) ([]string, error) {
			return []string{m.MessageId}, nil
		}), std, []string{"std-msg-1"}, ""},
		{"func, empty", middleware.KeyFunc("order", func(context.Context, events.SQSMessage) ([]string, error) {
			return []string{""}, nil
		}), std, nil, "order"},
		{"func, none", middleware.KeyFunc("order", func(context.Context, events.SQSMessage) ([]string, error) {
			return nil, nil
		}), std, nil, "order"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := middleware.EvalKey(context.Background(), tc.key, tc.msg)
			checkKeys(t, got, err, tc.want, tc.expr)
		})
	}
}

func TestEventBridgeKeys(t *testing.T) {
	t.Parallel()
	acct := loadEventBridge(t, "eventbridge-account.json")
	sched := loadEventBridge(t, "schedule.json")
	scheduleARN := middleware.JMESPath[events.EventBridgeEvent]("resources[0]")
	for _, tc := range []struct {
		name string
		key  middleware.Key[events.EventBridgeEvent]
		ev   events.EventBridgeEvent
		want []string
		expr string
	}{
		{"id", middleware.EventBridgeID(), acct, []string{"6a7e8feb-b491-4cf7-a9f1-bf3703467718"}, ""},
		// What EventBridgeSourceDetailType did, JMESPath does.
		{"source and detail-type", middleware.JMESPath[events.EventBridgeEvent](`join('/', [source, "detail-type"])`), acct,
			[]string{"dynalock.accounts/AccountDebited"}, ""},
		{"detail path", middleware.EventBridgeDetail("accountId"), acct, []string{"42"}, ""},
		{"detail path, number", middleware.EventBridgeDetail("amount"), acct, []string{"10"}, ""},
		{"detail path, missing", middleware.EventBridgeDetail("customerId"), acct, nil, `"customerId"`},
		{"event path", middleware.JMESPath[events.EventBridgeEvent]("detail.accountId"), acct, []string{"42"}, ""},
		{"event path, region", middleware.JMESPath[events.EventBridgeEvent]("region"), acct, []string{"us-east-1"}, ""},
		// What ScheduleARN did, JMESPath does.
		{"schedule ARN", scheduleARN, sched, []string{"arn:aws:events:us-east-1:123456789012:rule/nightly-rollup"}, ""},
		{"schedule ARN, none", scheduleARN, acct, nil, `"resources[0]"`},
		{"singleton", middleware.Constant[events.EventBridgeEvent]("nightly-rollup"), sched, []string{"nightly-rollup"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := middleware.EvalKey(context.Background(), tc.key, tc.ev)
			checkKeys(t, got, err, tc.want, tc.expr)
		})
	}
}

// JSON numbers keep their digits: no float rounding of large IDs.
func TestJMESPathNumbers(t *testing.T) {
	t.Parallel()
	k := middleware.JMESPath[json.RawMessage]("[big, small, neg]")
	got, err := middleware.EvalKey(context.Background(), k, json.RawMessage(`{"big":12345678901234567890,"small":1.5,"neg":-3}`))
	checkKeys(t, got, err, []string{"12345678901234567890", "1.5", "-3"}, "")
}

// A Key that cannot work is a configuration error, worded as one, that
// the wrapper it is given to returns when it is built (with no handler),
// never an event's missing key; nothing is sent.
func TestKeysThatCannotWorkAreRefusedWhenBuilt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	type eb = events.EventBridgeEvent
	handler := func(context.Context, eb) error { t.Error("handler ran"); return nil }
	build := func(k middleware.Key[eb]) error {
		h, err := middleware.WrapNoOutput(e.c, k, handler, e.opts()...)
		if h != nil {
			t.Error("a handler came with the error")
		}
		return err
	}
	for _, expr := range []string{"", "  ", "detail.[", "a ||| b"} {
		for name, err := range map[string]error{
			"JMESPath":          build(middleware.JMESPath[eb](expr)),
			"EventBridgeDetail": build(middleware.EventBridgeDetail(expr)),
			"SQSBody": func() error {
				h, err := middleware.WrapSQS(e.c, middleware.SQSBody(expr), func(context.Context, events.SQSMessage) error { return nil }, e.opts()...)
				if h != nil {
					t.Error("a handler came with the error")
				}
				return err
			}(),
			"KinesisData": func() error {
				h, err := middleware.WrapKinesis(e.c, middleware.KinesisData(expr), func(context.Context, events.KinesisEventRecord) error { return nil }, e.opts()...)
				if h != nil {
					t.Error("a handler came with the error")
				}
				return err
			}(),
			"HTTP Body": func() error {
				api := middleware.HTTPAPI()
				h, err := middleware.WrapHTTP(e.c, api, api.Body(expr),
					func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
						return events.APIGatewayV2HTTPResponse{}, nil
					}, e.opts()...)
				if h != nil {
					t.Error("a handler came with the error")
				}
				return err
			}(),
		} {
			if !errors.Is(err, lock.ErrInvalidInput) || errors.Is(err, middleware.ErrNoKey) ||
				!strings.Contains(err.Error(), fmt.Sprintf("invalid JMESPath expression %q: ", expr)) {
				t.Errorf("%s(%q): error %v, want an invalid expression matching lock.ErrInvalidInput", name, expr, err)
			}
		}
	}
	for name, k := range map[string]middleware.Key[eb]{
		"the zero Key":        {},
		"Constant()":          middleware.Constant[eb](),
		"Constant of a blank": middleware.Constant[eb]("a", " "),
		"KeyFunc(nil)":        middleware.KeyFunc[eb]("tenant", nil),
	} {
		if err := build(k); !errors.Is(err, lock.ErrInvalidInput) || errors.Is(err, middleware.ErrNoKey) {
			t.Errorf("%s: error %v, want a configuration error matching lock.ErrInvalidInput", name, err)
		}
	}
	if n := e.net.Total(); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
}

// An entity key that starts with "idempotency#", the prefix of the
// idempotency claims' lock IDs, is refused per event with ErrNoKey, never
// locked: an event that chose its key so could otherwise hold, or answer
// for, another event's claim. The event's claim is untouched.
func TestEntityKeyShapedAsAClaimIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	claim := middleware.LockID("test", "idempotency#"+strings.Repeat("a", 64))
	body := func(key string) string { b, _ := json.Marshal(map[string]string{"sku": key}); return string(b) }
	ran := map[string]bool{}
	h := must(middleware.WrapSQS(e.c, middleware.SQSBody("sku"), func(_ context.Context, m events.SQSMessage) error {
		ran[m.MessageId] = true
		return nil
	}, e.opts(middleware.WithConcurrency(1), middleware.WithIdempotency(middleware.SQSMessageID()))...))(t)
	ctx, _ := lambdaCtx(t, "req-claim", 10*time.Second)
	resp, err := h(ctx, events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "claim-shaped", Body: body(strings.TrimPrefix(claim, "test/"))},
		{MessageId: "ok", Body: body("BLUE-MUG")},
	}})
	if err != nil || !slices.Equal(failures(resp), []string{"claim-shaped"}) || ran["claim-shaped"] || !ran["ok"] {
		t.Errorf("failures %v, %v, ran %v; want the claim-shaped key's record failed without running", failures(resp), err, ran)
	}
	lines := e.logLines("no lock key")
	if len(lines) != 1 || !strings.Contains(fmt.Sprint(lines[0]["error"]), `starts with "idempotency#"`) {
		t.Errorf("want the refusal logged with its reason:\n%s", e.logs)
	}
	if _, found, err := shape.Table.Read(context.Background(), srv.Client(), e.table, claim); err != nil || found {
		t.Errorf("the claim-shaped lock ID has an item (%v): it was locked", err)
	}
	w := must(middleware.Wrap(e.c, middleware.Constant[string]("idempotency#x"), func(context.Context, string) (string, error) {
		t.Error("handler ran")
		return "", nil
	}, e.opts()...))(t)
	e.net.Reset()
	if _, err := w(ctx, "x"); !errors.Is(err, middleware.ErrNoKey) || !strings.Contains(err.Error(), "idempotency#") {
		t.Errorf("Wrap: %v, want ErrNoKey naming the prefix", err)
	}
	if n := e.net.Total(); n != 0 {
		t.Errorf("%d requests for an event refused", n)
	}
	api := middleware.HTTPAPI()
	hh := must(middleware.WrapHTTP(e.c, api, api.Header("x-account"),
		func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			t.Error("handler ran")
			return events.APIGatewayV2HTTPResponse{StatusCode: 201}, nil
		}, e.opts()...))(t)
	req := events.APIGatewayV2HTTPRequest{Headers: map[string]string{"x-account": "idempotency#x"}}
	if resp, err := hh(ctx, req); err != nil || resp.StatusCode != 400 || e.net.Total() != 0 {
		t.Errorf("WrapHTTP: %d, %v, %d requests; want 400 without a request", resp.StatusCode, err, e.net.Total())
	}
}

// A path into an SQS message's body over the whole message finds nothing,
// since the body is a string: the error points to SQSBody.
func TestJMESPathIntoSQSBodyHints(t *testing.T) {
	t.Parallel()
	std := loadSQS(t, "sqs-standard.json").Records[0]
	for _, tc := range []struct {
		name, expr, hint string
	}{
		{"field", "body.sku", `SQSBody("sku")`},
		{"list", "body.lines[].sku", `SQSBody("lines[].sku")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := middleware.EvalKey(context.Background(), middleware.JMESPath[events.SQSMessage](tc.expr), std)
			if !errors.Is(err, middleware.ErrNoKey) || !strings.Contains(err.Error(), tc.hint) {
				t.Errorf("error %v, want ErrNoKey suggesting %s", err, tc.hint)
			}
		})
	}
	// Other missing paths get no such hint.
	_, err := middleware.EvalKey(context.Background(), middleware.JMESPath[events.SQSMessage]("attributes.MessageGroupId"), std)
	if err == nil || strings.Contains(err.Error(), "SQSBody") {
		t.Errorf("error %v, want one without the body hint", err)
	}
}

// checkKeys checks a key's result: want, or (expr not empty) an error
// matching ErrNoKey that names expr as the expression the key was read
// from.
func checkKeys(t *testing.T, got []string, err error, want []string, expr string) {
	t.Helper()
	if expr == "" {
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("got %q, %v; want %q", got, err, want)
		}
		return
	}
	if !errors.Is(err, middleware.ErrNoKey) || !strings.Contains(err.Error(), "no lock key from "+expr) {
		t.Errorf("got %q, %v; want ErrNoKey naming %s", got, err, expr)
	}
}

func TestLockID(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", maxLockIDBytes) // 2 bytes each
	for _, tc := range []struct {
		name, ns, key string
		want          string // empty: shortened
	}{
		{"namespaced", "reserve-stock", "BLUE-MUG", "reserve-stock/BLUE-MUG"},
		{"no namespace", "", "BLUE-MUG", "BLUE-MUG"},
		{"at the limit", "", strings.Repeat("k", maxLockIDBytes), strings.Repeat("k", maxLockIDBytes)},
		{"one over", "", strings.Repeat("k", maxLockIDBytes+1), ""},
		{"multi-byte", "ns", long, ""},
		{"invalid UTF-8", "ns", "a\xffb", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := middleware.LockID(tc.ns, tc.key)
			if !validLockID(got) {
				t.Fatalf("LockID = %q: not a DynamoDB key", got)
			}
			if tc.want != "" {
				if got != tc.want {
					t.Errorf("LockID = %q, want %q", got, tc.want)
				}
				return
			}
			if !strings.Contains(got, "#sha256:") || got != middleware.LockID(tc.ns, tc.key) {
				t.Errorf("LockID = %q: not shortened with a hash, or not deterministic", got)
			}
			if tc.ns != "" && !strings.HasPrefix(got, tc.ns+"/") {
				t.Errorf("LockID = %q lost its namespace", got)
			}
		})
	}
	// Keys that share their first 2000 bytes stay apart.
	a := middleware.LockID("ns", strings.Repeat("x", 3000)+"a")
	b := middleware.LockID("ns", strings.Repeat("x", 3000)+"b")
	if a == b {
		t.Error("long keys that differ at the end got one lock ID")
	}
}
