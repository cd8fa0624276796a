package capacity

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestItemSize(t *testing.T) {
	tests := []struct {
		name string
		item map[string]types.AttributeValue
		want int
	}{
		{"string", map[string]types.AttributeValue{"ab": &types.AttributeValueMemberS{Value: "xyz"}}, 5},
		{"number", map[string]types.AttributeValue{"n": &types.AttributeValueMemberN{Value: "1764123456789"}}, 1 + 8},
		{"number trimmed", map[string]types.AttributeValue{"n": &types.AttributeValueMemberN{Value: "1000"}}, 1 + 2},
		{"negative", map[string]types.AttributeValue{"n": &types.AttributeValueMemberN{Value: "-12"}}, 1 + 3},
		{"map", map[string]types.AttributeValue{"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"k": &types.AttributeValueMemberS{Value: "vv"},
		}}}, 1 + 3 + (1 + 2 + 1)},
		{"binary", map[string]types.AttributeValue{"b": &types.AttributeValueMemberB{Value: make([]byte, 10)}}, 11},
		{"bool", map[string]types.AttributeValue{"b": &types.AttributeValueMemberBOOL{Value: true}}, 2},
	}
	for _, tt := range tests {
		if got := ItemSize(tt.item); got != tt.want {
			t.Errorf("%s: %d bytes, want %d", tt.name, got, tt.want)
		}
	}
}

func TestUnits(t *testing.T) {
	big := map[string]types.AttributeValue{"x": &types.AttributeValueMemberS{Value: strings.Repeat("a", 1100)}}
	if got := WriteUnits(ItemSize(big)); got != 2 {
		t.Errorf("1.1 KB item: %v WCU, want 2", got)
	}
	for _, tc := range []struct {
		size       int
		wcu, tx    float64
		rcu, rcuEC float64
	}{
		{0, 1, 2, 1, 0.5}, {400, 1, 2, 1, 0.5}, {1024, 1, 2, 1, 0.5}, {1025, 2, 4, 1, 0.5}, {5000, 5, 10, 2, 1},
	} {
		if w, x, r, e := WriteUnits(tc.size), TransactWriteUnits(tc.size), ReadUnits(tc.size, true), ReadUnits(tc.size, false); w != tc.wcu || x != tc.tx || r != tc.rcu || e != tc.rcuEC {
			t.Errorf("%d bytes: %v %v %v %v, want %v %v %v %v", tc.size, w, x, r, e, tc.wcu, tc.tx, tc.rcu, tc.rcuEC)
		}
	}
}
