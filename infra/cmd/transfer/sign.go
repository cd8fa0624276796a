package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// signingService is the service name API Gateway's IAM authorization
// checks signatures for, whatever kind the API is.
const signingService = "execute-api"

// Transfer is one POST /accounts/{id}/transfers request.
type Transfer struct {
	APIURL  string // the API's base URL (the stack's TransfersApiUrl)
	Account string // the path parameter
	ID      string // transferId in the body, also sent as Idempotency-Key
	Amount  int64  // cents
}

// SignedRequest returns the transfer as an HTTP request signed at time now
// with cfg's credentials for execute-api in cfg's region (or, when cfg has
// none, the region of an execute-api host name). Everything the signature
// covers (method, URL, the headers set here, the body's SHA-256) must not
// change after signing.
func (t Transfer) SignedRequest(ctx context.Context, cfg aws.Config, now time.Time) (*http.Request, error) {
	base, err := url.Parse(t.APIURL)
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("-url %q is not an absolute URL", t.APIURL)
	}
	endpoint := base.JoinPath("accounts", t.Account, "transfers")
	body, err := json.Marshal(struct {
		TransferID string `json:"transferId"`
		Amount     int64  `json:"amount"`
	}{t.ID, t.Amount})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", t.ID)

	region := cfg.Region
	if region == "" {
		region = regionOfHost(base.Hostname())
	}
	if region == "" {
		return nil, errors.New("no region: set AWS_REGION or -region")
	}
	if cfg.Credentials == nil {
		return nil, errors.New("no AWS credentials configured")
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("retrieving AWS credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), signingService, region, now); err != nil {
		return nil, fmt.Errorf("signing the request: %w", err)
	}
	return req, nil
}

// regionOfHost returns the region of an API Gateway host name,
// <api>.execute-api.<region>.amazonaws.com, or "" for another host (a
// custom domain).
func regionOfHost(host string) string {
	parts := strings.Split(host, ".")
	if len(parts) >= 4 && parts[1] == signingService {
		return parts[2]
	}
	return ""
}
