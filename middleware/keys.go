package middleware

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/lock"
	"github.com/jmespath/go-jmespath"
)

// Key derives the lock keys of an event of type T: one or more non-empty
// strings, which the wrappers turn into lock IDs under the namespace.
// Several keys are locked all or none; a key given more than once (one
// SKU on two lines of an order) is locked once. Make one with the trigger's
// constructors (SQSBody, EventBridgeDetail, DynamoDBKeys, an HTTP trigger's
// PathParameter…), JMESPath, Constant or KeyFunc. A Key that cannot work
// (an expression that does not compile) makes the wrapper it is given to
// fail when built; its zero value is no Key, refused likewise.
type Key[T any] struct {
	name string                                               // what it reads, for errors
	fn   func(ctx context.Context, event T) ([]string, error) // nil: no Key
	err  error                                                // why it cannot work, found when it was made
}

// given reports whether k is a Key made by a constructor, even one that
// cannot work (its err says why), rather than the zero Key.
func (k Key[T]) given() bool { return k.fn != nil || k.err != nil }

// describe names the key in errors.
func (k Key[T]) describe() string {
	if k.name == "" {
		return "the key function"
	}
	return k.name
}

// KeyFunc returns a Key computed by f, any Go function: the keys of an
// event, or an error (best one matching ErrNoKey, saying what was missing)
// that fails it. name describes f in errors, such as "order lines".
func KeyFunc[T any](name string, f func(ctx context.Context, event T) ([]string, error)) Key[T] {
	k := Key[T]{name: name, fn: f}
	if f == nil {
		k.err = fmt.Errorf("%w: KeyFunc(%q): nil function", lock.ErrInvalidInput, name)
	}
	return k
}

// Constant returns a Key that gives keys whatever the event: a singleton
// lock, such as Constant[events.EventBridgeEvent]("nightly-rollup") for a
// scheduled job whose runs must not overlap.
func Constant[T any](keys ...string) Key[T] {
	k := Key[T]{name: "Constant()", fn: func(context.Context, T) ([]string, error) { return append([]string(nil), keys...), nil }}
	switch {
	case len(keys) == 0:
		k.err = fmt.Errorf("%w: Constant(): no keys given", lock.ErrInvalidInput)
	case slices.ContainsFunc(keys, func(s string) bool { return strings.TrimSpace(s) == "" }):
		k.err = fmt.Errorf("%w: Constant(): an empty key", lock.ErrInvalidInput)
	}
	return k
}

// JMESPath returns a Key that evaluates the JMESPath expression expr over
// the event's JSON encoding. The result must be a non-empty string, a
// number, or a non-empty list of these (several keys). An expression that
// does not compile makes the wrapper fail when built.
//
// For example "detail.accountId" over an EventBridge event, or
// "messageAttributes.tenant.stringValue" over an SQS message. An SQS
// message's body is a string holding JSON, not an object, so "body.sku"
// finds nothing: use SQSBody("sku") for paths into the body.
func JMESPath[T any](expr string) Key[T] {
	p, err := compile(expr)
	if err != nil {
		return Key[T]{name: expr, err: err}
	}
	hint := sqsBodyHint[T](expr)
	return KeyFunc(expr, func(_ context.Context, event T) ([]string, error) {
		raw, err := json.Marshal(event)
		if err != nil {
			return nil, keyError(expr, "event cannot be encoded as JSON", err)
		}
		keys, err := p.keys(raw, "event")
		var ke *keyErr
		if hint != "" && errors.As(err, &ke) && ke.Reason == noValue {
			ke.Reason += "; " + hint
		}
		return keys, err
	})
}

// pathKey returns a Key that evaluates expr over the document doc finds in
// an event (what names it: "body", "detail", "data").
func pathKey[T any](expr, what string, doc func(T) ([]byte, error)) Key[T] {
	p, err := compile(expr)
	if err != nil {
		return Key[T]{name: expr, err: err}
	}
	return KeyFunc(expr, func(_ context.Context, event T) ([]string, error) {
		b, err := doc(event)
		if err != nil {
			return nil, err
		}
		return p.keys(b, what)
	})
}

// sqsBodyHint returns advice for expr over an SQS message when it reaches
// into the body, which is a string to JMESPath: use SQSBody instead.
func sqsBodyHint[T any](expr string) string {
	var zero T
	switch any(zero).(type) {
	case events.SQSMessage, *events.SQSMessage:
	default:
		return ""
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(expr), "body.")
	if !ok {
		return ""
	}
	return fmt.Sprintf("an SQS message's body is a JSON string, not an object: use SQSBody(%q) for paths into it", rest)
}

// path is a compiled JMESPath expression.
type path struct {
	expr string
	jp   *jmespath.JMESPath
}

// compile compiles expr. Its errors are configuration errors, matching
// lock.ErrInvalidInput.
func compile(expr string) (*path, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, fmt.Errorf("middleware: invalid JMESPath expression %q: empty (%w)", expr, lock.ErrInvalidInput)
	}
	jp, err := jmespath.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("middleware: invalid JMESPath expression %q: %w (%w)", expr, err, lock.ErrInvalidInput)
	}
	return &path{expr: expr, jp: jp}, nil
}

// keys decodes doc, the JSON of what (such as "body"), and evaluates the
// expression over it.
func (p *path) keys(doc []byte, what string) ([]string, error) {
	var v any
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, keyError(p.name(), what+" is not JSON", err)
	}
	if d.More() {
		return nil, keyError(p.name(), what+" is not JSON", fmt.Errorf("data after the JSON value"))
	}
	res, err := p.search(v)
	if err != nil {
		return nil, keyError(p.name(), "evaluation failed", err)
	}
	return keyValues(p.name(), res)
}

func (p *path) name() string { return fmt.Sprintf("%q", p.expr) }

// search evaluates the expression, turning a panic of the library into an
// error.
func (p *path) search(v any) (res any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("jmespath: %v", r)
		}
	}()
	return p.jp.Search(v)
}

// keyValues turns an expression's result into keys.
func keyValues(expr string, res any) ([]string, error) {
	if list, ok := res.([]any); ok {
		if len(list) == 0 {
			return nil, keyError(expr, "empty list", nil)
		}
		keys := make([]string, 0, len(list))
		for _, v := range list {
			k, err := keyValue(expr, v)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
		return keys, nil
	}
	k, err := keyValue(expr, res)
	if err != nil {
		return nil, err
	}
	return []string{k}, nil
}

// noValue is the reason of a key error when the expression found nothing.
const noValue = "no value (path missing or null)"

func keyValue(expr string, v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", keyError(expr, noValue, nil)
	case string:
		if strings.TrimSpace(v) == "" {
			return "", keyError(expr, "empty string", nil)
		}
		return v, nil
	case json.Number:
		return canonicalNumber(v.String()), nil
	case float64:
		return canonicalNumber(strconv.FormatFloat(v, 'g', -1, 64)), nil
	default:
		return "", keyError(expr, fmt.Sprintf("value of type %s is not a string or number", jsonType(v)), nil)
	}
}

// canonicalNumber writes a JSON number one way whatever way it came: 42,
// 42.0 and 4.2e1 are the key "42", so that producers that write numbers
// differently (Python's json.dumps(42.0)) still share one lock. Other
// numbers are written in Go's shortest form.
func canonicalNumber(s string) string {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return s
	}
	if r.IsInt() {
		return r.Num().String()
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return s
}

func jsonType(v any) string {
	switch v.(type) {
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "list"
	}
	return fmt.Sprintf("%T", v)
}

// checkKeys returns ks if it holds keys, none empty and none that could be
// an idempotency claim's (starting "idempotency#"): an entity lock must
// never be a claim, or an event's key could hold or answer for another
// event's work.
func checkKeys(name string, ks []string) ([]string, error) {
	if len(ks) == 0 {
		return nil, keyError(name, "no keys", nil)
	}
	for _, k := range ks {
		switch {
		case k == "":
			return nil, keyError(name, "empty key", nil)
		case strings.HasPrefix(k, claimPrefix):
			return nil, keyError(name, fmt.Sprintf("key %q starts with %q, the prefix of idempotency claims' lock IDs", k, claimPrefix), nil)
		}
	}
	return ks, nil
}
