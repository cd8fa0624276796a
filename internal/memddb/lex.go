package memddb

import "strings"

// token is one lexical element of an expression.
type token struct {
	kind tokKind
	text string
}

type tokKind int

const (
	tEOF    tokKind = iota
	tIdent          // an attribute name, keyword or function name
	tName           // #placeholder
	tValue          // :placeholder
	tNumber         // a list index
	tPunct          // ( ) [ ] , . = <> < <= > >= + -
)

// lex splits an expression into tokens. what names the expression in
// errors ("ConditionExpression").
func lex(what, s string) ([]token, error) {
	var out []token
	isWord := func(c byte) bool {
		return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#' || c == ':':
			j := i + 1
			for j < len(s) && isWord(s[j]) {
				j++
			}
			if j == i+1 {
				return nil, syntaxError(what, string(c), s)
			}
			kind := tName
			if c == ':' {
				kind = tValue
			}
			out = append(out, token{kind, s[i:j]})
			i = j
		case c >= '0' && c <= '9':
			j := i
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			out = append(out, token{tNumber, s[i:j]})
			i = j
		case isWord(c):
			j := i
			for j < len(s) && isWord(s[j]) {
				j++
			}
			out = append(out, token{tIdent, s[i:j]})
			i = j
		default:
			two := ""
			if i+1 < len(s) {
				two = s[i : i+2]
			}
			switch {
			case two == "<>" || two == "<=" || two == ">=":
				out = append(out, token{tPunct, two})
				i += 2
			case strings.IndexByte("()[],.=<>+-", c) >= 0:
				out = append(out, token{tPunct, string(c)})
				i++
			default:
				return nil, syntaxError(what, string(c), s)
			}
		}
	}
	return append(out, token{kind: tEOF}), nil
}

func syntaxError(what, tok, expr string) error {
	if tok == "" {
		tok = "<EOF>"
	}
	return validation("Invalid %s: Syntax error; token: \"%s\", near: \"%s\"", what, tok, expr)
}
