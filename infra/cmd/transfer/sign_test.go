package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

const (
	testKey    = "AKIDEXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	testRegion = "eu-west-1"
)

func staticCredentials(token string) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret, SessionToken: token}, nil
	})
}

var authorization = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^,]+), SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$`)

// verify checks req's Signature Version 4 the way API Gateway does, from
// the specification (not with the SDK that signed it): it rebuilds the
// canonical request and the string to sign from what arrived, derives the
// signing key from the secret, and compares signatures. It returns the
// signed headers.
func verify(req *http.Request, body []byte) ([]string, error) {
	m := authorization.FindStringSubmatch(req.Header.Get("Authorization"))
	if m == nil {
		return nil, fmt.Errorf("authorization %q is not a SigV4 header", req.Header.Get("Authorization"))
	}
	scope := strings.SplitN(m[1], "/", 2)
	date := req.Header.Get("X-Amz-Date")
	if len(scope) != 2 || scope[0] != testKey || len(date) < 8 {
		return nil, fmt.Errorf("credential %s, X-Amz-Date %q", m[1], date)
	}
	wantScope := date[:8] + "/" + testRegion + "/execute-api/aws4_request"
	if scope[1] != wantScope {
		return nil, fmt.Errorf("scope %s, want %s", scope[1], wantScope)
	}
	signed := strings.Split(m[2], ";")
	if !sort.StringsAreSorted(signed) {
		return nil, fmt.Errorf("signed headers %v are not sorted", signed)
	}
	var canonHeaders strings.Builder
	for _, h := range signed {
		v := req.Header.Get(h)
		switch h {
		case "host":
			v = req.Host
		case "content-length": // a field of the request, not a header, in Go
			v = strconv.FormatInt(req.ContentLength, 10)
		}
		fmt.Fprintf(&canonHeaders, "%s:%s\n", h, strings.TrimSpace(v))
	}
	payload := sha256.Sum256(body)
	canonical := strings.Join([]string{
		req.Method, req.URL.EscapedPath(), req.URL.RawQuery,
		canonHeaders.String(), m[2], hex.EncodeToString(payload[:]),
	}, "\n")
	hashed := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + date + "\n" + wantScope + "\n" + hex.EncodeToString(hashed[:])
	mac := func(key []byte, s string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(s))
		return h.Sum(nil)
	}
	key := mac(mac(mac(mac([]byte("AWS4"+testSecret), date[:8]), testRegion), "execute-api"), "aws4_request")
	if got, want := m[3], hex.EncodeToString(mac(key, toSign)); got != want {
		return nil, fmt.Errorf("signature %s, want %s (canonical request:\n%s)", got, want, canonical)
	}
	return signed, nil
}

func TestSignedRequest(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	tr := Transfer{APIURL: "https://abc123def4.execute-api.eu-west-1.amazonaws.com/", Account: "42", ID: "tr-1001", Amount: -2500}
	tests := []struct {
		name       string
		cfg        aws.Config
		wantSigned []string
	}{
		{"long-term keys, region from the SDK", aws.Config{Region: testRegion, Credentials: staticCredentials("")},
			[]string{"content-length", "content-type", "host", "idempotency-key", "x-amz-date"}},
		{"session credentials, region from the host", aws.Config{Credentials: staticCredentials("TOKEN")},
			[]string{"content-length", "content-type", "host", "idempotency-key", "x-amz-date", "x-amz-security-token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// GIVEN a transfer and credentials WHEN it is signed
			req, err := tr.SignedRequest(context.Background(), tt.cfg, now)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(req.Body)

			// THEN it is the route's POST with the JSON body, signed for
			// execute-api over its headers and body
			if req.Method != http.MethodPost || req.URL.String() != "https://abc123def4.execute-api.eu-west-1.amazonaws.com/accounts/42/transfers" {
				t.Errorf("%s %s", req.Method, req.URL)
			}
			if string(body) != `{"transferId":"tr-1001","amount":-2500}` {
				t.Errorf("body %s", body)
			}
			if got := req.Header.Get("X-Amz-Date"); got != "20261207T120000Z" {
				t.Errorf("X-Amz-Date %s", got)
			}
			signed, err := verify(req, body)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(signed, ";") != strings.Join(tt.wantSigned, ";") {
				t.Errorf("signed headers %v, want %v", signed, tt.wantSigned)
			}
			// AND a body changed after signing no longer verifies
			if _, err := verify(req, append(body, ' ')); err == nil {
				t.Error("a changed body still verifies: the check checks nothing")
			}
		})
	}
}

func TestSignedRequestErrors(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		tr   Transfer
		cfg  aws.Config
		want string
	}{
		{"relative URL", Transfer{APIURL: "/accounts", Account: "42", ID: "x"}, aws.Config{Region: testRegion, Credentials: staticCredentials("")}, "not an absolute URL"},
		{"no region", Transfer{APIURL: "https://api.example.com", Account: "42", ID: "x"}, aws.Config{Credentials: staticCredentials("")}, "no region"},
		{"no credentials", Transfer{APIURL: "https://api.example.com", Account: "42", ID: "x"}, aws.Config{Region: testRegion}, "no AWS credentials"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.tr.SignedRequest(ctx, tt.cfg, time.Now()); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestRegionOfHost(t *testing.T) {
	for host, want := range map[string]string{
		"abc123def4.execute-api.eu-west-1.amazonaws.com":     "eu-west-1",
		"abc123def4.execute-api.cn-north-1.amazonaws.com.cn": "cn-north-1",
		"api.example.com": "",
		"localhost":       "",
		"execute-api.a.b": "",
	} {
		if got := regionOfHost(host); got != want {
			t.Errorf("regionOfHost(%q) = %q, want %q", host, got, want)
		}
	}
}

// TestRun sends a transfer to a stand-in for API Gateway that checks the
// signature as IAM authorization does and answers as the function would.
func TestRun(t *testing.T) {
	// GIVEN credentials in the environment and an API that verifies them
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", testKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecret)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", testRegion)
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := verify(r, body); err != nil {
			t.Errorf("API Gateway would refuse the request: %v", err)
			http.Error(w, `{"message":"Forbidden"}`, http.StatusForbidden)
			return
		}
		if r.URL.Path != "/accounts/42/transfers" {
			http.Error(w, "no route", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"accountId":"42","transferId":"tr-1001","result":"applied"}`)
	}))
	defer api.Close()

	// WHEN the command runs against it
	var out bytes.Buffer
	err := run(context.Background(), []string{"-url", api.URL, "-account", "42", "-id", "tr-1001", "-amount", "-2500"}, &out)

	// THEN the signed request went through and the answer is printed
	if err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "201 Created") || !strings.Contains(got, `"transferId":"tr-1001"`) {
		t.Errorf("output:\n%s", got)
	}
}
