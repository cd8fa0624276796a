package memddb

import (
	"encoding/json"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// TestHandlerErrors: what the SDK never sends still gets DynamoDB's kind
// of answer: a JSON error body with its __type, and the CRC32 header.
func TestHandlerErrors(t *testing.T) {
	srv := httptest.NewServer(Handler(NewStore()))
	defer srv.Close()
	for _, tc := range []struct {
		name, target, body, wantType string
	}{
		{"no target", "", `{}`, "UnknownOperationException"},
		{"an operation the double lacks", targetPrefix + "ExecuteStatement", `{}`, "UnknownOperationException"},
		{"malformed JSON", targetPrefix + "GetItem", `{"TableName":`, "SerializationException"},
		{"a value of two types", targetPrefix + "PutItem", `{"TableName":"t","Item":{"pk":{"S":"a","N":"1"}}}`, "ValidationException"},
		{"a value of no type", targetPrefix + "PutItem", `{"TableName":"t","Item":{"pk":{}}}`, "ValidationException"},
		{"a bad number", targetPrefix + "PutItem", `{"TableName":"t","Item":{"pk":{"N":"1x"}}}`, "ValidationException"},
		{"no table", targetPrefix + "GetItem", `{"TableName":"none","Key":{"pk":{"S":"a"}}}`, "ResourceNotFoundException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(tc.body))
			req.Header.Set("X-Amz-Target", tc.target)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			var e struct {
				Type string `json:"__type"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if resp.StatusCode != http.StatusBadRequest || !strings.HasSuffix(e.Type, "#"+tc.wantType) {
				t.Errorf("%d %s, want 400 %s", resp.StatusCode, body, tc.wantType)
			}
			if got, want := resp.Header.Get("X-Amz-Crc32"), strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10); got != want {
				t.Errorf("X-Amz-Crc32 %q, want %q", got, want)
			}
		})
	}
}
