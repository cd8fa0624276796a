package memddb

import (
	"bytes"
	"math/big"
	"slices"
	"strings"
)

// get returns the value at p in it.
func get(it Item, p path) (Value, bool) {
	cur := Value{T: "M", M: it}
	for _, s := range p {
		switch {
		case s.isIndex && cur.T == "L" && s.index < len(cur.L):
			cur = cur.L[s.index]
		case !s.isIndex && cur.T == "M":
			v, ok := cur.M[s.name]
			if !ok {
				return Value{}, false
			}
			cur = v
		default:
			return Value{}, false
		}
	}
	return cur, true
}

// eval evaluates a condition on it (an empty item when there is none).
func (c *cond) eval(it Item) (bool, error) {
	switch c.kind {
	case cAnd:
		l, err := c.subs[0].eval(it)
		if err != nil || !l {
			return false, err
		}
		return c.subs[1].eval(it)
	case cOr:
		l, err := c.subs[0].eval(it)
		if err != nil || l {
			return l, err
		}
		return c.subs[1].eval(it)
	case cNot:
		v, err := c.subs[0].eval(it)
		return !v, err
	case cCompare:
		a, aok := c.args[0].condValue(it)
		b, bok := c.args[1].condValue(it)
		if !aok || !bok {
			// A missing attribute equals nothing, so it differs from all.
			return c.op == "<>", nil
		}
		switch c.op {
		case "=":
			return equal(a, b), nil
		case "<>":
			return !equal(a, b), nil
		}
		n, ok := compare(a, b)
		if !ok {
			return false, nil
		}
		switch c.op {
		case "<":
			return n < 0, nil
		case "<=":
			return n <= 0, nil
		case ">":
			return n > 0, nil
		default:
			return n >= 0, nil
		}
	case cBetween:
		a, aok := c.args[0].condValue(it)
		lo, lok := c.args[1].condValue(it)
		hi, hok := c.args[2].condValue(it)
		if !aok || !lok || !hok {
			return false, nil
		}
		if n, ok := compare(lo, hi); ok && n > 0 {
			return false, validation("Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: %s, upper bound operand: AttributeValue: %s", lo, hi)
		}
		n1, ok1 := compare(lo, a)
		n2, ok2 := compare(a, hi)
		return ok1 && ok2 && n1 <= 0 && n2 <= 0, nil
	case cIn:
		a, ok := c.args[0].condValue(it)
		if !ok {
			return false, nil
		}
		for _, o := range c.args[1:] {
			if b, ok := o.condValue(it); ok && equal(a, b) {
				return true, nil
			}
		}
		return false, nil
	case cFunc:
		return c.evalFunc(it)
	}
	return false, nil
}

func (c *cond) evalFunc(it Item) (bool, error) {
	v, found := c.args[0].condValue(it)
	switch c.op {
	case "attribute_exists":
		return found, nil
	case "attribute_not_exists":
		return !found, nil
	case "attribute_type":
		t := c.args[1].val
		if t.T != "S" || typeName(t.S) == "" {
			return false, validation("Invalid ConditionExpression: Invalid attribute type name found; type: %s, valid types: { B,NULL,SS,BOOL,L,BS,N,NS,S,M }", t.S)
		}
		return found && v.T == t.S, nil
	}
	arg, ok := c.args[1].condValue(it)
	if !found || !ok {
		return false, nil
	}
	switch c.op {
	case "begins_with":
		switch {
		case v.T == "S" && arg.T == "S":
			return strings.HasPrefix(v.S, arg.S), nil
		case v.T == "B" && arg.T == "B":
			return bytes.HasPrefix(v.B, arg.B), nil
		}
		return false, nil
	case "contains":
		switch v.T {
		case "S":
			return arg.T == "S" && strings.Contains(v.S, arg.S), nil
		case "B":
			return arg.T == "B" && bytes.Contains(v.B, arg.B), nil
		case "SS", "NS", "BS":
			return setHas(v, arg), nil
		case "L":
			return slices.ContainsFunc(v.L, func(e Value) bool { return equal(e, arg) }), nil
		}
	}
	return false, nil
}

// condValue is an operand's value in a condition; ok is false when the
// path is missing (or size() has no size), which makes the comparison
// false.
func (o *operand) condValue(it Item) (Value, bool) {
	switch o.kind {
	case opValue:
		return o.val, true
	case opPath:
		return get(it, o.path)
	case opSize:
		v, ok := get(it, o.args[0].path)
		if !ok {
			return Value{}, false
		}
		n, ok := sizeOf(v)
		if !ok {
			return Value{}, false
		}
		return Value{T: "N", S: big.NewInt(int64(n)).String()}, true
	}
	return Value{}, false
}

// updateValue is an operand's value on the right of SET, on the item as it
// was before the update.
func (o *operand) updateValue(it Item) (Value, error) {
	switch o.kind {
	case opValue:
		return o.val, nil
	case opPath:
		v, ok := get(it, o.path)
		if !ok {
			return Value{}, validation("The provided expression refers to an attribute that does not exist in the item")
		}
		return clone(v), nil
	case opIfNotExists:
		if v, ok := get(it, o.args[0].path); ok {
			return clone(v), nil
		}
		return o.args[1].updateValue(it)
	case opListAppend:
		a, err := o.args[0].updateValue(it)
		if err != nil {
			return Value{}, err
		}
		b, err := o.args[1].updateValue(it)
		if err != nil {
			return Value{}, err
		}
		for _, v := range []Value{a, b} {
			if v.T != "L" {
				return Value{}, validation("Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: list_append, operand type: %s", typeName(v.T))
			}
		}
		return Value{T: "L", L: append(slices.Clone(a.L), b.L...)}, nil
	case opPlus, opMinus:
		a, err := o.args[0].updateValue(it)
		if err != nil {
			return Value{}, err
		}
		b, err := o.args[1].updateValue(it)
		if err != nil {
			return Value{}, err
		}
		for _, v := range []Value{a, b} {
			if v.T != "N" {
				return Value{}, validation("An operand in the update expression has an incorrect data type")
			}
		}
		return addNumbers(a, b, o.kind == opMinus), nil
	}
	return Value{}, validation("Invalid UpdateExpression: unsupported operand")
}

// apply returns old updated by u. old is not changed.
func (u *update) apply(old Item) (Item, error) {
	vals := make([]Value, len(u.set))
	for i, a := range u.set {
		v, err := a.val.updateValue(old)
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	it := cloneItem(old)
	if it == nil {
		it = Item{}
	}
	for i, a := range u.set {
		if err := setPath(it, a.path, vals[i]); err != nil {
			return nil, err
		}
	}
	// Remove list elements from the highest index down, so that each
	// index means what it meant in the old item.
	removes := slices.Clone(u.remove)
	slices.SortStableFunc(removes, func(a, b path) int {
		ai, bi := -1, -1
		if s := a[len(a)-1]; s.isIndex {
			ai = s.index
		}
		if s := b[len(b)-1]; s.isIndex {
			bi = s.index
		}
		return bi - ai
	})
	for _, p := range removes {
		if err := removePath(it, p); err != nil {
			return nil, err
		}
	}
	for _, a := range u.add {
		cur, found := get(it, a.path)
		var nv Value
		switch {
		case !found:
			nv = clone(a.val)
		case cur.T == "N" && a.val.T == "N":
			nv = addNumbers(cur, a.val, false)
		case cur.T == a.val.T && (cur.T == "SS" || cur.T == "NS" || cur.T == "BS"):
			nv = setUnion(cur, a.val)
		default:
			return nil, validation("An operand in the update expression has an incorrect data type")
		}
		if err := setPath(it, a.path, nv); err != nil {
			return nil, err
		}
	}
	for _, a := range u.del {
		cur, found := get(it, a.path)
		if !found {
			continue
		}
		if cur.T != a.val.T {
			return nil, validation("An operand in the update expression has an incorrect data type")
		}
		nv := setMinus(cur, a.val)
		var err error
		if len(nv.SS) == 0 && len(nv.BS) == 0 {
			err = removePath(it, a.path)
		} else {
			err = setPath(it, a.path, nv)
		}
		if err != nil {
			return nil, err
		}
	}
	return it, nil
}

func setUnion(a, b Value) Value {
	out := clone(a)
	if a.T == "BS" {
		for _, x := range b.BS {
			if !setHas(out, Value{T: "B", B: x}) {
				out.BS = append(out.BS, bytes.Clone(x))
			}
		}
		return out
	}
	for _, s := range b.SS {
		if !setHas(out, Value{T: a.T[:1], S: s}) {
			out.SS = append(out.SS, s)
		}
	}
	return out
}

func setMinus(a, b Value) Value {
	out := Value{T: a.T}
	if a.T == "BS" {
		for _, x := range a.BS {
			if !setHas(b, Value{T: "B", B: x}) {
				out.BS = append(out.BS, x)
			}
		}
		return out
	}
	for _, s := range a.SS {
		if !setHas(b, Value{T: a.T[:1], S: s}) {
			out.SS = append(out.SS, s)
		}
	}
	return out
}

var errBadPath = validation("The document path provided in the update expression is invalid for update")

// setPath sets the value at p in it, whose containers above p must exist.
// An index past a list's end appends.
func setPath(it Item, p path, v Value) error {
	root := Value{T: "M", M: it}
	_, err := setIn(root, p, v)
	return err
}

func setIn(cur Value, p path, v Value) (Value, error) {
	s := p[0]
	if s.isIndex {
		if cur.T != "L" {
			return cur, errBadPath
		}
		if s.index >= len(cur.L) {
			if len(p) > 1 {
				return cur, errBadPath
			}
			cur.L = append(cur.L, v)
			return cur, nil
		}
		if len(p) == 1 {
			cur.L[s.index] = v
			return cur, nil
		}
		nv, err := setIn(cur.L[s.index], p[1:], v)
		cur.L[s.index] = nv
		return cur, err
	}
	if cur.T != "M" {
		return cur, errBadPath
	}
	if len(p) == 1 {
		cur.M[s.name] = v
		return cur, nil
	}
	child, ok := cur.M[s.name]
	if !ok {
		return cur, errBadPath
	}
	nv, err := setIn(child, p[1:], v)
	cur.M[s.name] = nv
	return cur, err
}

// removePath removes the value at p from it; a missing value is no error,
// a missing container is.
func removePath(it Item, p path) error {
	_, err := removeIn(Value{T: "M", M: it}, p)
	return err
}

func removeIn(cur Value, p path) (Value, error) {
	s := p[0]
	if s.isIndex {
		if cur.T != "L" {
			return cur, errBadPath
		}
		if s.index >= len(cur.L) {
			return cur, nil
		}
		if len(p) == 1 {
			cur.L = slices.Delete(cur.L, s.index, s.index+1)
			return cur, nil
		}
		nv, err := removeIn(cur.L[s.index], p[1:])
		cur.L[s.index] = nv
		return cur, err
	}
	if cur.T != "M" {
		return cur, errBadPath
	}
	if len(p) == 1 {
		delete(cur.M, s.name)
		return cur, nil
	}
	child, ok := cur.M[s.name]
	if !ok {
		return cur, errBadPath
	}
	nv, err := removeIn(child, p[1:])
	cur.M[s.name] = nv
	return cur, err
}

// project returns the parts of it that paths name.
func project(it Item, paths []path) Item {
	if it == nil || paths == nil {
		return it
	}
	out := Item{}
	for _, p := range paths {
		v, ok := get(it, p)
		if !ok {
			continue
		}
		root := Value{T: "M", M: out}
		projectInto(root, p, clone(v))
	}
	return out
}

func projectInto(cur Value, p path, v Value) Value {
	s := p[0]
	if s.isIndex {
		// A list in a projection keeps the elements asked for, in order.
		if len(p) == 1 {
			cur.L = append(cur.L, v)
			return cur
		}
		var child Value
		if len(cur.L) > 0 {
			child = cur.L[len(cur.L)-1]
		} else {
			child = newContainer(p[1])
			cur.L = append(cur.L, child)
		}
		cur.L[len(cur.L)-1] = projectInto(child, p[1:], v)
		return cur
	}
	if len(p) == 1 {
		cur.M[s.name] = v
		return cur
	}
	child, ok := cur.M[s.name]
	if !ok {
		child = newContainer(p[1])
	}
	cur.M[s.name] = projectInto(child, p[1:], v)
	return cur
}

func newContainer(next step) Value {
	if next.isIndex {
		return Value{T: "L", L: []Value{}}
	}
	return Value{T: "M", M: Item{}}
}
