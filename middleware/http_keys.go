package middleware

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
)

// PathParameter returns a KeyFunc that gives the path parameter name of
// an API Gateway request: "id" of the route /accounts/{id}/transfers. A
// function URL or load balancer request has no path parameters; for them
// the KeyFunc fails every request, saying to use PathSegment.
func (t HTTP[Req, Resp]) PathParameter(name string) KeyFunc[Req] {
	expr := fmt.Sprintf("path parameter %q", name)
	return func(_ context.Context, req Req) ([]string, error) {
		v := t.view(req)
		if !v.hasParams {
			return nil, keyError(expr, "a "+t.name+" request has no path parameters (use PathSegment)", nil)
		}
		return nonEmpty(expr, []string{v.pathParams[name]})
	}
}

// PathSegment returns a KeyFunc that gives the i-th segment of the
// request's path, counting from 0 and ignoring empty segments: 1 of
// /accounts/42/transfers gives "42". Paths that arrive percent-encoded
// (HTTP API, function URL, load balancer) are decoded segment by segment.
func (t HTTP[Req, Resp]) PathSegment(i int) KeyFunc[Req] {
	expr := fmt.Sprintf("path segment %d", i)
	return func(_ context.Context, req Req) ([]string, error) {
		v := t.view(req)
		var segs []string
		for s := range strings.SplitSeq(v.path, "/") {
			if s != "" {
				segs = append(segs, s)
			}
		}
		if i < 0 || i >= len(segs) {
			return nil, keyError(expr, fmt.Sprintf("the path has %d segments", len(segs)), nil)
		}
		seg := segs[i]
		if v.rawPath {
			d, err := url.PathUnescape(seg)
			if err != nil {
				return nil, keyError(expr, "not percent-encoded properly", err)
			}
			seg = d
		}
		return nonEmpty(expr, []string{seg})
	}
}

// Header returns a KeyFunc that gives the request header name, matched
// without regard to case (API Gateway HTTP APIs and function URLs send
// names in lower case, REST APIs and load balancers as the client wrote
// them); of a header sent several times, the first value.
func (t HTTP[Req, Resp]) Header(name string) KeyFunc[Req] {
	expr := fmt.Sprintf("header %q", name)
	return func(_ context.Context, req Req) ([]string, error) {
		v := t.view(req)
		for k, val := range v.headers {
			if strings.EqualFold(k, name) {
				return nonEmpty(expr, []string{val})
			}
		}
		for k, vals := range v.mvHeaders {
			if strings.EqualFold(k, name) && len(vals) > 0 {
				return nonEmpty(expr, vals[:1])
			}
		}
		return nil, keyError(expr, "missing", nil)
	}
}

// Query returns a KeyFunc that gives the query string parameter name: of
// a parameter given several times, the value the trigger passes in its
// single-value map (API Gateway HTTP APIs join the values with commas),
// or else the first. Load balancers pass the query undecoded: the value is
// decoded.
func (t HTTP[Req, Resp]) Query(name string) KeyFunc[Req] {
	expr := fmt.Sprintf("query parameter %q", name)
	return func(_ context.Context, req Req) ([]string, error) {
		v := t.view(req)
		val, ok := v.query[name]
		if !ok {
			if vals := v.mvQuery[name]; len(vals) > 0 {
				val, ok = vals[0], true
			}
		}
		if !ok {
			return nil, keyError(expr, "missing", nil)
		}
		if v.queryRaw {
			d, err := url.QueryUnescape(val)
			if err != nil {
				return nil, keyError(expr, "not URL-encoded properly", err)
			}
			val = d
		}
		return nonEmpty(expr, []string{val})
	}
}

// BodyPath returns a KeyFunc that evaluates the JMESPath expression expr
// over the request's body, decoded as JSON (after base64 when the request
// is marked isBase64Encoded): "accountId" over {"accountId":"42"} gives
// "42". A body that is not JSON fails the request with 400. It fails,
// with an error matching lock.ErrInvalidInput, if expr does not compile.
func (t HTTP[Req, Resp]) BodyPath(expr string) (KeyFunc[Req], error) {
	p, err := compile(expr)
	if err != nil {
		return nil, err
	}
	return func(_ context.Context, req Req) ([]string, error) {
		v := t.view(req)
		body := []byte(v.body)
		if v.base64 {
			var err error
			if body, err = base64.StdEncoding.DecodeString(v.body); err != nil {
				return nil, keyError(p.name(), "body is not valid base64", err)
			}
		}
		return p.keys(body, "body")
	}, nil
}
