package middleware

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
)

// PathParameter returns a Key that gives the path parameter name of
// an API Gateway request: "id" of the route /accounts/{id}/transfers. A
// function URL or load balancer request has no path parameters; for them
// the Key fails every request, saying to use PathSegment.
func (t HTTP[Req, Resp]) PathParameter(name string) Key[Req] {
	expr := fmt.Sprintf("path parameter %q", name)
	return KeyFunc(expr, func(_ context.Context, req Req) ([]string, error) {
		v := t.view(req)
		if !v.hasParams {
			return nil, keyError(expr, "a "+t.name+" request has no path parameters (use PathSegment)", nil)
		}
		return nonEmpty(expr, []string{v.pathParams[name]})
	})
}

// PathSegment returns a Key that gives the i-th segment of the
// request's path, counting from 0 and ignoring empty segments: 1 of
// /accounts/42/transfers gives "42". Paths that arrive percent-encoded
// (HTTP API, function URL, load balancer) are decoded segment by segment.
func (t HTTP[Req, Resp]) PathSegment(i int) Key[Req] {
	expr := fmt.Sprintf("path segment %d", i)
	return KeyFunc(expr, func(_ context.Context, req Req) ([]string, error) {
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
	})
}

// Header returns a Key that gives the request header name, matched
// without regard to case (API Gateway HTTP APIs, function URLs and load
// balancers send names in lower case, REST APIs as the client wrote
// them). Of a header sent several times, it gives the first value where
// the trigger passes every value (multiValueHeaders: REST APIs, and load
// balancers with multi-value headers on), never the single-value headers
// map's, where API Gateway puts the last; else the one value the trigger
// passes (HTTP APIs and function URLs join the values with commas, a load
// balancer without multi-value headers passes the last). A handler must
// read the value its lock was taken on: on a REST API,
// MultiValueHeaders[name][0], not Headers[name]. A REST API request that
// carries the header under two spellings ("X-Account", "x-account") with
// different first values fails as having no key: the event does not say
// which came first.
func (t HTTP[Req, Resp]) Header(name string) Key[Req] {
	expr := fmt.Sprintf("header %q", name)
	return KeyFunc(expr, func(_ context.Context, req Req) ([]string, error) {
		v := t.view(req)
		val, found, ambiguous := firstFold(v.mvHeaders, name, func(vals []string) (string, bool) {
			if len(vals) == 0 {
				return "", false
			}
			return vals[0], true
		})
		if !found {
			val, found, ambiguous = firstFold(v.headers, name, func(val string) (string, bool) { return val, true })
		}
		switch {
		case ambiguous:
			return nil, keyError(expr, "sent under several spellings with different values (which came first is not known)", nil)
		case !found:
			return nil, keyError(expr, "missing", nil)
		}
		return nonEmpty(expr, []string{val})
	})
}

// firstFold returns the value first gives of the entry of m whose key is
// name without regard to case, and whether there is one. Several such
// entries (a name under several spellings) giving different values are
// ambiguous: map order is not the request's.
func firstFold[V any](m map[string]V, name string, first func(V) (string, bool)) (val string, found, ambiguous bool) {
	for k, entry := range m {
		if !strings.EqualFold(k, name) {
			continue
		}
		f, ok := first(entry)
		switch {
		case !ok:
		case !found:
			val, found = f, true
		case f != val:
			ambiguous = true
		}
	}
	return val, found, ambiguous
}

// Query returns a Key that gives the query string parameter name,
// matched exactly (query names are case-sensitive). Of a parameter given
// several times, it gives the first value where the trigger passes every
// value (multiValueQueryStringParameters: REST APIs, and load balancers
// with multi-value headers on), never the single-value map's, where API
// Gateway puts the last; else the one value the trigger passes (HTTP APIs
// and function URLs join the values with commas, a load balancer without
// multi-value headers passes the last). A handler must read the value its
// lock was taken on: on a REST API,
// MultiValueQueryStringParameters[name][0]. Load balancers pass the query
// undecoded: the value is decoded.
func (t HTTP[Req, Resp]) Query(name string) Key[Req] {
	expr := fmt.Sprintf("query parameter %q", name)
	return KeyFunc(expr, func(_ context.Context, req Req) ([]string, error) {
		v := t.view(req)
		var val string
		ok := false
		if vals := v.mvQuery[name]; len(vals) > 0 {
			val, ok = vals[0], true
		} else {
			val, ok = v.query[name]
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
	})
}

// Body returns a Key that evaluates the JMESPath expression expr over the
// request's body, decoded as JSON (after base64 when the request is marked
// isBase64Encoded): "accountId" over {"accountId":"42"} gives "42". A body
// that is not JSON fails the request with 400.
func (t HTTP[Req, Resp]) Body(expr string) Key[Req] {
	return pathKey(expr, "body", func(req Req) ([]byte, error) {
		v := t.view(req)
		if !v.base64 {
			return []byte(v.body), nil
		}
		body, err := base64.StdEncoding.DecodeString(v.body)
		if err != nil {
			return nil, keyError(expr, "body is not valid base64", err)
		}
		return body, nil
	})
}
