package appdata_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/examples/shop/appdata"
)

func TestDecoder(t *testing.T) {
	item := map[string]types.AttributeValue{
		"n":  appdata.N(42),
		"s":  appdata.S("x"),
		"ss": appdata.SS("a", "b"),
	}
	d := appdata.Decoder{Item: item}
	if d.Int("n") != 42 || d.String("s") != "x" || len(d.Strings("ss")) != 2 || d.Int("missing") != 0 || d.Err != nil {
		t.Fatalf("decoding a well-formed item: err = %v", d.Err)
	}
	if d.Int("s"); d.Err == nil {
		t.Error("a string read as a number: no error")
	}
	first := d.Err
	if d.Strings("n"); d.Err != first {
		t.Errorf("Err = %v, want the first error %v kept", d.Err, first)
	}
}

func TestFence(t *testing.T) {
	cond, names, values := appdata.Fence(7)
	if cond != "attribute_not_exists(#tok) OR #tok <= :tok" || names["#tok"] != appdata.TokenAttribute {
		t.Errorf("Fence(7) = %q, %v", cond, names)
	}
	if n, ok := values[":tok"].(*types.AttributeValueMemberN); !ok || n.Value != "7" {
		t.Errorf("Fence(7) values = %v", values)
	}
}

func TestThink(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := appdata.Think(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Think on an ended context: err = %v, want context.Canceled", err)
	}
	if err := appdata.Think(context.Background(), time.Millisecond); err != nil {
		t.Errorf("Think(1ms) = %v", err)
	}
}
