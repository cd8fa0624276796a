package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

func str(s string) *string { return &s }

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
	for _, tc := range []struct {
		name string
		key  middleware.KeyFunc[events.SQSMessage]
		msg  events.SQSMessage
		want []string
		expr string // expression named by the error; empty when none
	}{
		{"body path", must(middleware.SQSBodyPath("sku")), std, []string{"BLUE-MUG"}, ""},
		{"body path, several", must(middleware.SQSBodyPath("[sku, orderId]")), std, []string{"BLUE-MUG", "o-1"}, ""},
		{"body path, number", must(middleware.SQSBodyPath("quantity")), std, []string{"2"}, ""},
		{"body path, missing", must(middleware.SQSBodyPath("customer.id")), std, nil, `"customer.id"`},
		{"body not JSON", must(middleware.SQSBodyPath("sku")), events.SQSMessage{Body: "BLUE-MUG"}, nil, `"sku"`},
		{"body of two values", must(middleware.SQSBodyPath("sku")), events.SQSMessage{Body: `{"sku":"a"} {}`}, nil, `"sku"`},
		{"message JSON path", must(middleware.JMESPath[events.SQSMessage]("messageAttributes.tenant.stringValue")), withAttrs, []string{"acme"}, ""},
		{"message JSON path to group", must(middleware.JMESPath[events.SQSMessage]("attributes.MessageGroupId")), fifo, []string{"customer-a"}, ""},
		{"attribute", middleware.SQSAttribute("tenant"), withAttrs, []string{"acme"}, ""},
		{"attribute list", middleware.SQSAttribute("regions"), withAttrs, []string{"eu", "us"}, ""},
		{"attribute missing", middleware.SQSAttribute("tenant"), std, nil, "message attribute tenant"},
		{"attribute binary", middleware.SQSAttribute("blob"), withAttrs, nil, "message attribute blob"},
		{"attribute empty", middleware.SQSAttribute("blank"), withAttrs, nil, "message attribute blank"},
		{"group", middleware.SQSMessageGroupID(), fifo, []string{"customer-a"}, ""},
		{"group on a standard queue", middleware.SQSMessageGroupID(), std, nil, "attribute MessageGroupId"},
		{"constant", middleware.Constant[events.SQSMessage]("one"), std, []string{"one"}, ""},
		{"constant, none", middleware.Constant[events.SQSMessage](), std, nil, "Constant()"},
		{"func", middleware.Key("order", func(m events.SQSMessage) string { return m.MessageId }), std, []string{"std-msg-1"}, ""},
		{"func, empty", middleware.Key("order", func(m events.SQSMessage) string { return "" }), std, nil, "order"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.key(context.Background(), tc.msg)
			checkKeys(t, got, err, tc.want, tc.expr)
		})
	}
}

func TestEventBridgeKeys(t *testing.T) {
	t.Parallel()
	acct := loadEventBridge(t, "eventbridge-account.json")
	sched := loadEventBridge(t, "schedule.json")
	for _, tc := range []struct {
		name string
		key  middleware.KeyFunc[events.EventBridgeEvent]
		ev   events.EventBridgeEvent
		want []string
		expr string
	}{
		{"id", middleware.EventBridgeID(), acct, []string{"6a7e8feb-b491-4cf7-a9f1-bf3703467718"}, ""},
		{"source and detail-type", middleware.EventBridgeSourceDetailType(), acct, []string{"dynalock.accounts/AccountDebited"}, ""},
		{"detail path", must(middleware.EventBridgeDetailPath("accountId")), acct, []string{"42"}, ""},
		{"detail path, number", must(middleware.EventBridgeDetailPath("amount")), acct, []string{"10"}, ""},
		{"detail path, missing", must(middleware.EventBridgeDetailPath("customerId")), acct, nil, `"customerId"`},
		{"event path", must(middleware.JMESPath[events.EventBridgeEvent]("detail.accountId")), acct, []string{"42"}, ""},
		{"event path, region", must(middleware.JMESPath[events.EventBridgeEvent]("region")), acct, []string{"us-east-1"}, ""},
		{"schedule ARN", middleware.ScheduleARN(), sched, []string{"arn:aws:events:us-east-1:123456789012:rule/nightly-rollup"}, ""},
		{"schedule ARN, none", middleware.ScheduleARN(), acct, nil, "resources[0]"},
		{"singleton", middleware.Constant[events.EventBridgeEvent]("nightly-rollup"), sched, []string{"nightly-rollup"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.key(context.Background(), tc.ev)
			checkKeys(t, got, err, tc.want, tc.expr)
		})
	}
}

// JSON numbers keep their digits: no float rounding of large IDs.
func TestJMESPathNumbers(t *testing.T) {
	t.Parallel()
	k := must(middleware.JMESPath[json.RawMessage]("[big, small, neg]"))
	got, err := k(context.Background(), json.RawMessage(`{"big":12345678901234567890,"small":1.5,"neg":-3}`))
	checkKeys(t, got, err, []string{"12345678901234567890", "1.5", "-3"}, "")
}

// An expression that does not compile is a configuration error, worded as
// one: not an event's missing key.
func TestBadExpressions(t *testing.T) {
	t.Parallel()
	for _, expr := range []string{"", "  ", "detail.[", "a ||| b"} {
		for name, compile := range map[string]func(string) error{
			"JMESPath":              func(e string) error { _, err := middleware.JMESPath[json.RawMessage](e); return err },
			"SQSBodyPath":           func(e string) error { _, err := middleware.SQSBodyPath(e); return err },
			"EventBridgeDetailPath": func(e string) error { _, err := middleware.EventBridgeDetailPath(e); return err },
		} {
			err := compile(expr)
			if !errors.Is(err, lock.ErrInvalidInput) || errors.Is(err, middleware.ErrNoKey) ||
				!strings.HasPrefix(err.Error(), fmt.Sprintf("middleware: invalid JMESPath expression %q: ", expr)) {
				t.Errorf("%s(%q): error %v, want an invalid expression matching lock.ErrInvalidInput", name, expr, err)
			}
		}
	}
}

// A path into an SQS message's body over the whole message finds nothing,
// since the body is a string: the error points to SQSBodyPath.
func TestJMESPathIntoSQSBodyHints(t *testing.T) {
	t.Parallel()
	std := loadSQS(t, "sqs-standard.json").Records[0]
	for _, tc := range []struct {
		name, expr, hint string
	}{
		{"field", "body.sku", `SQSBodyPath("sku")`},
		{"list", "body.lines[].sku", `SQSBodyPath("lines[].sku")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := must(middleware.JMESPath[events.SQSMessage](tc.expr))(context.Background(), std)
			var ke *middleware.KeyError
			if !errors.As(err, &ke) || !strings.Contains(err.Error(), tc.hint) {
				t.Errorf("error %v, want a *KeyError suggesting %s", err, tc.hint)
			}
		})
	}
	// Other missing paths get no such hint.
	_, err := must(middleware.JMESPath[events.SQSMessage]("attributes.MessageGroupId"))(context.Background(), std)
	if err == nil || strings.Contains(err.Error(), "SQSBodyPath") {
		t.Errorf("error %v, want one without the body hint", err)
	}
}

func checkKeys(t *testing.T, got []string, err error, want []string, expr string) {
	t.Helper()
	if expr == "" {
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("got %q, %v; want %q", got, err, want)
		}
		return
	}
	var ke *middleware.KeyError
	if !errors.As(err, &ke) || ke.Expr != expr || !strings.Contains(err.Error(), expr) {
		t.Errorf("got %q, %v; want a *KeyError naming %s", got, err, expr)
	}
}

func TestLockID(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", lock.MaxLockIDBytes) // 2 bytes each
	for _, tc := range []struct {
		name, ns, key string
		want          string // empty: shortened
	}{
		{"namespaced", "reserve-stock", "BLUE-MUG", "reserve-stock/BLUE-MUG"},
		{"no namespace", "", "BLUE-MUG", "BLUE-MUG"},
		{"at the limit", "", strings.Repeat("k", lock.MaxLockIDBytes), strings.Repeat("k", lock.MaxLockIDBytes)},
		{"one over", "", strings.Repeat("k", lock.MaxLockIDBytes+1), ""},
		{"multi-byte", "ns", long, ""},
		{"invalid UTF-8", "ns", "a\xffb", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := middleware.LockID(tc.ns, tc.key)
			if err := lock.ValidateLockID(got); err != nil || !utf8.ValidString(got) {
				t.Fatalf("LockID = %q: %v", got, err)
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
