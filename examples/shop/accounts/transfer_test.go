package accounts_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dynalock/dynalock/examples/shop/accounts"
)

func TestTransferHandler(t *testing.T) {
	req := func(account, body string) events.APIGatewayV2HTTPRequest {
		return events.APIGatewayV2HTTPRequest{PathParameters: map[string]string{"id": account}, Body: body}
	}
	b64 := func(s string) events.APIGatewayV2HTTPRequest {
		r := req("acct-1", base64.StdEncoding.EncodeToString([]byte(s)))
		r.IsBase64Encoded = true
		return r
	}
	tests := []struct {
		name   string
		reqs   []events.APIGatewayV2HTTPRequest
		status []int
		body   string // in the last response
		want   int64  // the balance after
	}{
		{"a debit is applied once", []events.APIGatewayV2HTTPRequest{req("acct-1", `{"transferId":"t1","amount":-300}`), req("acct-1", `{"transferId":"t1","amount":-300}`)},
			[]int{201, 200}, `"result":"duplicate"`, 700},
		{"a base64 body", []events.APIGatewayV2HTTPRequest{b64(`{"transferId":"t2","amount":50}`)}, []int{201}, `"result":"applied"`, 1050},
		{"an overdraft is declined", []events.APIGatewayV2HTTPRequest{req("acct-1", `{"transferId":"t3","amount":-1001}`)}, []int{422}, "overdraw", 1000},
		{"an unknown account", []events.APIGatewayV2HTTPRequest{req("nope", `{"transferId":"t4","amount":1}`)}, []int{404}, `no account \"nope\"`, 1000},
		{"a body it cannot use", []events.APIGatewayV2HTTPRequest{req("acct-1", `{"amount":1}`)}, []int{400}, "transactionId is empty", 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			if err := s.Open(ctx, "acct-1", 1000); err != nil {
				t.Fatal(err)
			}
			h := &accounts.TransferHandler{Store: s}
			var last events.APIGatewayV2HTTPResponse
			for i, r := range tt.reqs {
				resp, err := h.Handle(ctx, r)
				if err != nil || resp.StatusCode != tt.status[i] {
					t.Fatalf("request %d: %d %s, %v; want %d", i, resp.StatusCode, resp.Body, err, tt.status[i])
				}
				last = resp
			}
			if !strings.Contains(last.Body, tt.body) {
				t.Errorf("body %s, want %s", last.Body, tt.body)
			}
			a, err := s.Get(ctx, "acct-1")
			if err != nil || a.Balance != tt.want {
				t.Errorf("balance %d, %v; want %d", a.Balance, err, tt.want)
			}
		})
	}
}
