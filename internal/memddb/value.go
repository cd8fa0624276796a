package memddb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Value is one DynamoDB attribute value, as its JSON wire form carries it:
// exactly one of the types S, N, B, BOOL, NULL, L, M, SS, NS, BS.
type Value struct {
	T    string // the type: "S", "N", "B", "BOOL", "NULL", "L", "M", "SS", "NS", "BS"
	S    string // S; N in canonical form
	B    []byte
	Bool bool // BOOL; NULL is always true
	L    []Value
	M    Item
	SS   []string // SS; NS in canonical form
	BS   [][]byte
}

// Item is an item, or a map value: attribute name to value.
type Item map[string]Value

// UnmarshalJSON decodes the wire form, refusing what DynamoDB refuses: no
// type or two, a malformed number, an empty or duplicated set.
func (v *Value) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return validation("Supplied AttributeValue is not valid: %v", err)
	}
	if len(raw) == 0 {
		return validation("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
	}
	if len(raw) > 1 {
		return validation("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes")
	}
	for t, r := range raw {
		*v = Value{T: t}
		var err error
		switch t {
		case "S":
			err = json.Unmarshal(r, &v.S)
		case "N":
			var s string
			if err = json.Unmarshal(r, &s); err == nil {
				v.S, err = checkNumber(s)
			}
		case "B":
			err = json.Unmarshal(r, &v.B)
		case "BOOL":
			err = json.Unmarshal(r, &v.Bool)
		case "NULL":
			var null bool
			if err = json.Unmarshal(r, &null); err == nil && !null {
				err = validation("One or more parameter values were invalid: Null attribute value types must have the value of true")
			}
		case "L":
			err = json.Unmarshal(r, &v.L)
			if err == nil && v.L == nil {
				v.L = []Value{}
			}
		case "M":
			err = json.Unmarshal(r, &v.M)
			if err == nil && v.M == nil {
				v.M = Item{}
			}
		case "SS", "NS":
			if err = json.Unmarshal(r, &v.SS); err == nil {
				err = v.checkSet(len(v.SS))
			}
			if err == nil && t == "NS" {
				for i, s := range v.SS {
					if v.SS[i], err = checkNumber(s); err != nil {
						break
					}
				}
			}
			if err == nil {
				err = v.checkDuplicates()
			}
		case "BS":
			if err = json.Unmarshal(r, &v.BS); err == nil {
				err = v.checkSet(len(v.BS))
			}
			if err == nil {
				err = v.checkDuplicates()
			}
		default:
			return validation("Supplied AttributeValue has an unknown datatype %q", t)
		}
		if err != nil {
			if _, ok := err.(*Error); ok {
				return err
			}
			return validation("Supplied AttributeValue of type %s is not valid: %v", t, err)
		}
	}
	return nil
}

func (v *Value) checkSet(n int) error {
	if n == 0 {
		return validation("One or more parameter values were invalid: An %s may not be empty", setNoun(v.T))
	}
	return nil
}

func (v *Value) checkDuplicates() error {
	if v.T == "BS" {
		for i := range v.BS {
			for j := range i {
				if bytes.Equal(v.BS[i], v.BS[j]) {
					return validation("One or more parameter values were invalid: Input collection %s contains duplicates.", v.String())
				}
			}
		}
		return nil
	}
	seen := map[string]bool{}
	for _, s := range v.SS {
		if seen[s] {
			return validation("One or more parameter values were invalid: Input collection %s contains duplicates.", v.String())
		}
		seen[s] = true
	}
	return nil
}

func setNoun(t string) string {
	switch t {
	case "NS":
		return "number set "
	case "BS":
		return "binary set "
	}
	return "string set "
}

// MarshalJSON encodes the wire form.
func (v Value) MarshalJSON() ([]byte, error) {
	var inner any
	switch v.T {
	case "S", "N":
		inner = v.S
	case "B":
		inner = v.B
	case "BOOL":
		inner = v.Bool
	case "NULL":
		inner = true
	case "L":
		l := v.L
		if l == nil {
			l = []Value{}
		}
		inner = l
	case "M":
		m := v.M
		if m == nil {
			m = Item{}
		}
		inner = m
	case "SS", "NS":
		inner = v.SS
	case "BS":
		inner = v.BS
	default:
		return nil, fmt.Errorf("memddb: value of no type")
	}
	return json.Marshal(map[string]any{v.T: inner})
}

// String is the value in a short form for messages.
func (v Value) String() string {
	b, _ := v.MarshalJSON()
	return string(b)
}

// checkNumber checks a number and returns it as written: DynamoDB
// Local returns numbers as they were written, and compares them by value.
func checkNumber(s string) (string, error) {
	if _, ok := parseNumber(s); !ok {
		return "", validation("A value provided cannot be converted into a number")
	}
	return s, nil
}

// scale is the number of digits after the decimal point as s is written
// (less its exponent), as Java's BigDecimal counts it.
func scale(s string) int {
	s = strings.ToLower(s)
	exp := 0
	if i := strings.IndexByte(s, 'e'); i >= 0 {
		exp, _ = strconv.Atoi(s[i+1:])
		s = s[:i]
	}
	n := 0
	if i := strings.IndexByte(s, '.'); i >= 0 {
		n = len(s) - i - 1
	}
	return max(n-exp, 0)
}

// addNumbers returns a+b (or a-b) written as DynamoDB Local writes it: with
// as many decimals as the operand with the most.
func addNumbers(a, b Value, subtract bool) Value {
	r := new(big.Rat)
	if subtract {
		r.Sub(num(a), num(b))
	} else {
		r.Add(num(a), num(b))
	}
	sc := max(scale(a.S), scale(b.S))
	if sc == 0 && r.IsInt() {
		return Value{T: "N", S: r.Num().String()}
	}
	return Value{T: "N", S: r.FloatString(sc)}
}

func parseNumber(s string) (*big.Rat, bool) {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, "/_xXpP") || strings.EqualFold(s, "inf") || strings.EqualFold(s, "nan") {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

// formatNumber writes r as a plain decimal (r is always a finite decimal:
// numbers come from decimal text and sums of such).
func formatNumber(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	for prec := 1; prec <= 400; prec++ {
		s := r.FloatString(prec)
		if back, ok := new(big.Rat).SetString(s); ok && back.Cmp(r) == 0 {
			return s
		}
	}
	return r.FloatString(400)
}

func num(v Value) *big.Rat {
	r, _ := parseNumber(v.S)
	if r == nil {
		r = new(big.Rat)
	}
	return r
}

// equal reports whether a and b are the same DynamoDB value.
func equal(a, b Value) bool {
	if a.T != b.T {
		return false
	}
	switch a.T {
	case "S":
		return a.S == b.S
	case "N":
		return num(a).Cmp(num(b)) == 0
	case "B":
		return bytes.Equal(a.B, b.B)
	case "BOOL":
		return a.Bool == b.Bool
	case "NULL":
		return true
	case "L":
		return slices.EqualFunc(a.L, b.L, equal)
	case "M":
		if len(a.M) != len(b.M) {
			return false
		}
		for k, av := range a.M {
			bv, ok := b.M[k]
			if !ok || !equal(av, bv) {
				return false
			}
		}
		return true
	case "SS", "NS":
		if len(a.SS) != len(b.SS) {
			return false
		}
		for _, s := range a.SS {
			if !setHas(b, Value{T: a.T[1:], S: s}) {
				return false
			}
		}
		return true
	case "BS":
		if len(a.BS) != len(b.BS) {
			return false
		}
		for _, x := range a.BS {
			if !setHas(b, Value{T: "B", B: x}) {
				return false
			}
		}
		return true
	}
	return false
}

// compare orders two values of one scalar type (S, N or B); ok is false
// for values that have no order between them.
func compare(a, b Value) (c int, ok bool) {
	if a.T != b.T {
		return 0, false
	}
	switch a.T {
	case "S":
		return strings.Compare(a.S, b.S), true
	case "N":
		return num(a).Cmp(num(b)), true
	case "B":
		return bytes.Compare(a.B, b.B), true
	}
	return 0, false
}

// setHas reports whether set holds the scalar elem.
func setHas(set, elem Value) bool {
	switch {
	case set.T == "SS" && elem.T == "S":
		return slices.Contains(set.SS, elem.S)
	case set.T == "NS" && elem.T == "N":
		for _, s := range set.SS {
			if equal(Value{T: "N", S: s}, elem) {
				return true
			}
		}
	case set.T == "BS" && elem.T == "B":
		for _, b := range set.BS {
			if bytes.Equal(b, elem.B) {
				return true
			}
		}
	}
	return false
}

// clone returns a deep copy of v.
func clone(v Value) Value {
	switch v.T {
	case "B":
		v.B = bytes.Clone(v.B)
	case "L":
		l := make([]Value, len(v.L))
		for i, e := range v.L {
			l[i] = clone(e)
		}
		v.L = l
	case "M":
		v.M = cloneItem(v.M)
	case "SS", "NS":
		v.SS = slices.Clone(v.SS)
	case "BS":
		bs := make([][]byte, len(v.BS))
		for i, b := range v.BS {
			bs[i] = bytes.Clone(b)
		}
		v.BS = bs
	}
	return v
}

func cloneItem(it Item) Item {
	if it == nil {
		return nil
	}
	out := make(Item, len(it))
	for k, v := range it {
		out[k] = clone(v)
	}
	return out
}

// valueSize is the value's size as DynamoDB counts it toward the 400 KB
// item limit.
func valueSize(v Value) int {
	switch v.T {
	case "S":
		return len(v.S)
	case "N":
		return numberSize(v.S)
	case "B":
		return len(v.B)
	case "BOOL", "NULL":
		return 1
	case "L":
		n := 3
		for _, e := range v.L {
			n += 1 + valueSize(e)
		}
		return n
	case "M":
		n := 3
		for k, e := range v.M {
			n += 1 + len(k) + valueSize(e)
		}
		return n
	case "SS":
		n := 0
		for _, s := range v.SS {
			n += len(s)
		}
		return n
	case "NS":
		n := 0
		for _, s := range v.SS {
			n += numberSize(s)
		}
		return n
	case "BS":
		n := 0
		for _, b := range v.BS {
			n += len(b)
		}
		return n
	}
	return 0
}

// numberSize is about one byte per two significant digits, plus one.
func numberSize(s string) int {
	digits := strings.Trim(strings.NewReplacer("-", "", ".", "").Replace(s), "0")
	return (len(digits)+1)/2 + 1
}

// itemSize is the item's size: names and values.
func itemSize(it Item) int {
	n := 0
	for k, v := range it {
		n += len(k) + valueSize(v)
	}
	return n
}

// sizeOf is size(): a string's length in characters, a binary's in bytes,
// a collection's element count; ok is false for other types.
func sizeOf(v Value) (int, bool) {
	switch v.T {
	case "S":
		return utf8.RuneCountInString(v.S), true
	case "B":
		return len(v.B), true
	case "L":
		return len(v.L), true
	case "M":
		return len(v.M), true
	case "SS", "NS":
		return len(v.SS), true
	case "BS":
		return len(v.BS), true
	}
	return 0, false
}

// sortedKeys returns m's keys in order, for deterministic output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
