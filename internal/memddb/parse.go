package memddb

import (
	"fmt"
	"strconv"
	"strings"
)

// step is one element of a document path: an attribute or map key, or a
// list index.
type step struct {
	name    string
	index   int
	isIndex bool
}

// path is a document path, such as a.b[2].c.
type path []step

func (p path) String() string {
	parts := make([]string, len(p))
	for i, s := range p {
		if s.isIndex {
			parts[i] = "[" + strconv.Itoa(s.index) + "]"
		} else {
			parts[i] = s.name
		}
	}
	return strings.Join(parts, ", ")
}

// overlaps reports whether one path is the other or lies inside it.
func (p path) overlaps(q path) bool {
	n := min(len(p), len(q))
	for i := range n {
		if p[i] != q[i] {
			return false
		}
	}
	return true
}

// operand kinds.
type opKind int

const (
	opPath opKind = iota
	opValue
	opSize
	opIfNotExists
	opListAppend
	opPlus
	opMinus
)

// operand is a value in an expression: a path, a placeholder's value, or
// a function or arithmetic over operands.
type operand struct {
	kind opKind
	path path
	val  Value
	args []*operand
}

// condition kinds.
type condKind int

const (
	cAnd condKind = iota
	cOr
	cNot
	cCompare
	cBetween
	cIn
	cFunc
)

// cond is a condition (ConditionExpression, FilterExpression,
// KeyConditionExpression).
type cond struct {
	kind condKind
	op   string // comparator, or function name
	subs []*cond
	args []*operand
}

// update is a parsed UpdateExpression.
type update struct {
	set    []setAction
	remove []path
	add    []addAction
	del    []addAction
}

type setAction struct {
	path path
	val  *operand
}

type addAction struct {
	path path
	val  Value
}

// placeholders resolves a request's ExpressionAttributeNames and
// ExpressionAttributeValues and records which ones its expressions use:
// DynamoDB refuses a request that defines one it does not use.
type placeholders struct {
	names      map[string]string
	values     map[string]Value
	usedNames  map[string]bool
	usedValues map[string]bool
}

func newPlaceholders(names map[string]string, values map[string]Value) *placeholders {
	return &placeholders{names: names, values: values, usedNames: map[string]bool{}, usedValues: map[string]bool{}}
}

// checkUnused returns DynamoDB's error for a defined placeholder that no
// expression used.
func (ph *placeholders) checkUnused() error {
	var unusedN, unusedV []string
	for _, k := range sortedKeys(ph.names) {
		if !ph.usedNames[k] {
			unusedN = append(unusedN, k)
		}
	}
	for _, k := range sortedKeys(ph.values) {
		if !ph.usedValues[k] {
			unusedV = append(unusedV, k)
		}
	}
	if len(unusedN) > 0 {
		return validation("Value provided in ExpressionAttributeNames unused in expressions: keys: {%s}", strings.Join(unusedN, ", "))
	}
	if len(unusedV) > 0 {
		return validation("Value provided in ExpressionAttributeValues unused in expressions: keys: {%s}", strings.Join(unusedV, ", "))
	}
	return nil
}

// parser reads one expression.
type parser struct {
	what string // "ConditionExpression", for errors
	expr string
	toks []token
	pos  int
	ph   *placeholders
}

func newParser(what, expr string, ph *placeholders) (*parser, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, validation("Invalid %s: The expression can not be empty;", what)
	}
	toks, err := lex(what, expr)
	if err != nil {
		return nil, err
	}
	return &parser{what: what, expr: expr, toks: toks, ph: ph}, nil
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func (p *parser) isKeyword(t token, kw string) bool {
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}

func (p *parser) isPunct(t token, s string) bool { return t.kind == tPunct && t.text == s }

func (p *parser) fail(t token) error { return syntaxError(p.what, t.text, p.expr) }

func (p *parser) expect(s string) error {
	if t := p.next(); !p.isPunct(t, s) {
		return p.fail(t)
	}
	return nil
}

func (p *parser) invalid(format string, args ...any) error {
	return validation("Invalid %s: %s", p.what, fmt.Sprintf(format, args...))
}

// parseCondition parses a whole condition expression.
func parseCondition(what, expr string, ph *placeholders) (*cond, error) {
	p, err := newParser(what, expr, ph)
	if err != nil {
		return nil, err
	}
	c, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.fail(t)
	}
	return c, nil
}

func (p *parser) or() (*cond, error) {
	l, err := p.and()
	for err == nil && p.isKeyword(p.peek(), "OR") {
		p.next()
		var r *cond
		if r, err = p.and(); err == nil {
			l = &cond{kind: cOr, subs: []*cond{l, r}}
		}
	}
	return l, err
}

func (p *parser) and() (*cond, error) {
	l, err := p.not()
	for err == nil && p.isKeyword(p.peek(), "AND") {
		p.next()
		var r *cond
		if r, err = p.not(); err == nil {
			l = &cond{kind: cAnd, subs: []*cond{l, r}}
		}
	}
	return l, err
}

func (p *parser) not() (*cond, error) {
	if p.isKeyword(p.peek(), "NOT") {
		p.next()
		c, err := p.not()
		if err != nil {
			return nil, err
		}
		return &cond{kind: cNot, subs: []*cond{c}}, nil
	}
	return p.primary()
}

// condFuncs are the functions that are conditions, with their arity.
var condFuncs = map[string]int{
	"attribute_exists": 1, "attribute_not_exists": 1, "attribute_type": 2, "begins_with": 2, "contains": 2,
}

func (p *parser) primary() (*cond, error) {
	t := p.peek()
	if p.isPunct(t, "(") {
		p.next()
		if p.isPunct(p.peek(), "(") && p.closesAt(p.pos) == p.closesAt(p.pos-1)-1 {
			return nil, p.invalid("The expression has redundant parentheses;")
		}
		c, err := p.or()
		if err != nil {
			return nil, err
		}
		return c, p.expect(")")
	}
	if t.kind == tIdent && p.isPunct(p.toks[p.pos+1], "(") {
		if n, ok := condFuncs[t.text]; ok {
			p.next()
			args, err := p.args(t.text)
			if err != nil {
				return nil, err
			}
			if len(args) != n {
				return nil, p.invalid("Incorrect number of operands for operator or function; operator or function: %s, number of operands: %d", t.text, len(args))
			}
			if args[0].kind != opPath && strings.HasPrefix(t.text, "attribute_") {
				return nil, p.invalid("Operator or function requires a document path; operator or function: %s", t.text)
			}
			if t.text == "attribute_type" && args[1].kind != opValue {
				return nil, p.invalid("Incorrect operand type for operator or function; operator or function: attribute_type")
			}
			return &cond{kind: cFunc, op: t.text, args: args}, nil
		}
	}
	a, err := p.operand(false)
	if err != nil {
		return nil, err
	}
	t = p.next()
	switch {
	case t.kind == tPunct && (t.text == "=" || t.text == "<>" || t.text == "<" || t.text == "<=" || t.text == ">" || t.text == ">="):
		b, err := p.operand(false)
		if err != nil {
			return nil, err
		}
		if a.kind == opPath && b.kind == opPath && a.path.String() == b.path.String() {
			return nil, p.invalid("The first operand must be distinct from the remaining operands for this operator or function; operator: %s, first operand: [%s]", t.text, a.path)
		}
		if t.text != "=" && t.text != "<>" {
			if err := p.ordered(t.text, a, b); err != nil {
				return nil, err
			}
		}
		return &cond{kind: cCompare, op: t.text, args: []*operand{a, b}}, nil
	case p.isKeyword(t, "BETWEEN"):
		lo, err := p.operand(false)
		if err != nil {
			return nil, err
		}
		if t := p.next(); !p.isKeyword(t, "AND") {
			return nil, p.fail(t)
		}
		hi, err := p.operand(false)
		if err != nil {
			return nil, err
		}
		if err := p.ordered("BETWEEN", a, lo, hi); err != nil {
			return nil, err
		}
		if lo.kind == opValue && hi.kind == opValue && lo.val.T != hi.val.T {
			return nil, p.invalid("The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: %s, upper bound operand: AttributeValue: %s", lo.val, hi.val)
		}
		return &cond{kind: cBetween, args: []*operand{a, lo, hi}}, nil
	case p.isKeyword(t, "IN"):
		if err := p.expect("("); err != nil {
			return nil, err
		}
		args := []*operand{a}
		for {
			o, err := p.operand(false)
			if err != nil {
				return nil, err
			}
			args = append(args, o)
			if t := p.next(); p.isPunct(t, ")") {
				break
			} else if !p.isPunct(t, ",") {
				return nil, p.fail(t)
			}
		}
		return &cond{kind: cIn, args: args}, nil
	}
	return nil, p.fail(t)
}

// closesAt returns the position of the parenthesis that closes the one
// at i, or -1.
func (p *parser) closesAt(i int) int {
	depth := 0
	for j := i; j < len(p.toks); j++ {
		switch {
		case p.isPunct(p.toks[j], "("):
			depth++
		case p.isPunct(p.toks[j], ")"):
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return -1
}

// ordered refuses a value that has no order (not S, N or B) as an
// operand of an ordering comparison.
func (p *parser) ordered(op string, ops ...*operand) error {
	for _, o := range ops {
		if o.kind == opValue && o.val.T != "S" && o.val.T != "N" && o.val.T != "B" {
			return p.invalid("Incorrect operand type for operator or function; operator: %s, operand type: %s", op, typeName(o.val.T))
		}
	}
	return nil
}

// args parses a function's parenthesized arguments.
func (p *parser) args(fn string) ([]*operand, error) {
	if err := p.expect("("); err != nil {
		return nil, err
	}
	var args []*operand
	for {
		o, err := p.operand(p.what == "UpdateExpression")
		if err != nil {
			return nil, err
		}
		args = append(args, o)
		t := p.next()
		if p.isPunct(t, ")") {
			return args, nil
		}
		if !p.isPunct(t, ",") {
			return nil, p.fail(t)
		}
	}
}

// operand parses a path, a value placeholder or a function returning a
// value. inUpdate allows the update functions (if_not_exists,
// list_append) and refuses size.
func (p *parser) operand(inUpdate bool) (*operand, error) {
	t := p.peek()
	switch {
	case t.kind == tValue:
		p.next()
		v, ok := p.ph.values[t.text]
		if !ok {
			return nil, p.invalid("An expression attribute value used in expression is not defined; attribute value: %s", t.text)
		}
		p.ph.usedValues[t.text] = true
		return &operand{kind: opValue, val: v}, nil
	case t.kind == tIdent && p.isPunct(p.toks[p.pos+1], "("):
		p.next()
		fn := t.text
		var kind opKind
		switch {
		case fn == "size" && !inUpdate:
			kind = opSize
		case fn == "if_not_exists" && inUpdate:
			kind = opIfNotExists
		case fn == "list_append" && inUpdate:
			kind = opListAppend
		case fn == "size" || fn == "if_not_exists" || fn == "list_append" || condFuncs[fn] > 0:
			return nil, p.invalid("The function is not allowed to be used this way in an expression; function: %s", fn)
		default:
			return nil, p.invalid("Invalid function name; function: %s", fn)
		}
		args, err := p.args(fn)
		if err != nil {
			return nil, err
		}
		want := map[opKind]int{opSize: 1, opIfNotExists: 2, opListAppend: 2}[kind]
		if len(args) != want {
			return nil, p.invalid("Incorrect number of operands for operator or function; operator or function: %s, number of operands: %d", fn, len(args))
		}
		if (kind == opSize || kind == opIfNotExists) && args[0].kind != opPath {
			return nil, p.invalid("Operator or function requires a document path; operator or function: %s", fn)
		}
		return &operand{kind: kind, args: args}, nil
	}
	pa, err := p.path()
	if err != nil {
		return nil, err
	}
	return &operand{kind: opPath, path: pa}, nil
}

// path parses a document path.
func (p *parser) path() (path, error) {
	var out path
	name := func() error {
		t := p.next()
		switch t.kind {
		case tName:
			n, ok := p.ph.names[t.text]
			if !ok {
				return p.invalid("An expression attribute name used in the document path is not defined; attribute name: %s", t.text)
			}
			if n == "" {
				return validation("ExpressionAttributeNames contains invalid value: Empty attribute name for key %s", t.text)
			}
			p.ph.usedNames[t.text] = true
			out = append(out, step{name: n})
		case tIdent:
			if reservedWords[strings.ToUpper(t.text)] {
				return p.invalid("Attribute name is a reserved keyword; reserved keyword: %s", t.text)
			}
			if c := t.text[0]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				return p.fail(t) // a bare name starts with a letter
			}
			out = append(out, step{name: t.text})
		default:
			return p.fail(t)
		}
		return nil
	}
	if err := name(); err != nil {
		return nil, err
	}
	for {
		switch t := p.peek(); {
		case p.isPunct(t, "."):
			p.next()
			if err := name(); err != nil {
				return nil, err
			}
		case p.isPunct(t, "["):
			p.next()
			n := p.next()
			if n.kind != tNumber {
				return nil, p.fail(n)
			}
			i, err := strconv.Atoi(n.text)
			if err != nil {
				return nil, p.fail(n)
			}
			out = append(out, step{index: i, isIndex: true})
			if err := p.expect("]"); err != nil {
				return nil, err
			}
		default:
			return out, nil
		}
	}
}

// parseUpdate parses an UpdateExpression.
func parseUpdate(expr string, ph *placeholders) (*update, error) {
	p, err := newParser("UpdateExpression", expr, ph)
	if err != nil {
		return nil, err
	}
	u := &update{}
	seen := map[string]bool{}
	for p.peek().kind != tEOF {
		t := p.next()
		kw := strings.ToUpper(t.text)
		if t.kind != tIdent || (kw != "SET" && kw != "REMOVE" && kw != "ADD" && kw != "DELETE") {
			return nil, p.fail(t)
		}
		if seen[kw] {
			return nil, p.invalid("The \"%s\" section can only be used once in an update expression;", kw)
		}
		seen[kw] = true
		for {
			if err := p.action(kw, u); err != nil {
				return nil, err
			}
			if !p.isPunct(p.peek(), ",") {
				break
			}
			p.next()
		}
	}
	var all []path
	for _, a := range u.set {
		all = append(all, a.path)
	}
	all = append(all, u.remove...)
	for _, a := range append(u.add, u.del...) {
		all = append(all, a.path)
	}
	for i := range all {
		for j := range i {
			if all[i].overlaps(all[j]) {
				return nil, p.invalid("Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [%s], path two: [%s]", all[j], all[i])
			}
		}
	}
	return u, nil
}

func (p *parser) action(kw string, u *update) error {
	pa, err := p.path()
	if err != nil {
		return err
	}
	switch kw {
	case "SET":
		if err := p.expect("="); err != nil {
			return err
		}
		v, err := p.operand(true)
		if err != nil {
			return err
		}
		if t := p.peek(); p.isPunct(t, "+") || p.isPunct(t, "-") {
			p.next()
			r, err := p.operand(true)
			if err != nil {
				return err
			}
			kind := opPlus
			if t.text == "-" {
				kind = opMinus
			}
			v = &operand{kind: kind, args: []*operand{v, r}}
		}
		u.set = append(u.set, setAction{pa, v})
	case "REMOVE":
		u.remove = append(u.remove, pa)
	case "ADD", "DELETE":
		t := p.next()
		if t.kind != tValue {
			return p.fail(t)
		}
		v, ok := p.ph.values[t.text]
		if !ok {
			return p.invalid("An expression attribute value used in expression is not defined; attribute value: %s", t.text)
		}
		p.ph.usedValues[t.text] = true
		a := addAction{pa, v}
		if kw == "ADD" {
			if v.T != "N" && v.T != "SS" && v.T != "NS" && v.T != "BS" {
				return p.invalid("Incorrect operand type for operator or function; operator: ADD, operand type: %s", typeName(v.T))
			}
			u.add = append(u.add, a)
		} else {
			if v.T != "SS" && v.T != "NS" && v.T != "BS" {
				return p.invalid("Incorrect operand type for operator or function; operator: DELETE, operand type: %s", typeName(v.T))
			}
			u.del = append(u.del, a)
		}
	}
	return nil
}

// parseProjection parses a ProjectionExpression: paths separated by commas.
func parseProjection(expr string, ph *placeholders) ([]path, error) {
	p, err := newParser("ProjectionExpression", expr, ph)
	if err != nil {
		return nil, err
	}
	var out []path
	for {
		pa, err := p.path()
		if err != nil {
			return nil, err
		}
		out = append(out, pa)
		t := p.next()
		if t.kind == tEOF {
			return out, nil
		}
		if !p.isPunct(t, ",") {
			return nil, p.fail(t)
		}
	}
}

// typeName is a type's name as DynamoDB's messages spell it.
func typeName(t string) string {
	return map[string]string{
		"S": "STRING", "N": "NUMBER", "B": "BINARY", "BOOL": "BOOLEAN", "NULL": "NULL", "L": "LIST", "M": "MAP",
		"SS": "STRING_SET", "NS": "NUMBER_SET", "BS": "BINARY_SET",
	}[t]
}
