// Command transfer sends one transfer to the deployed example stack's
// HTTP API, POST /accounts/{id}/transfers, signed with Signature Version 4
// (service execute-api) with the caller's AWS credentials: the route takes
// IAM authorization, so an unsigned request, or one signed by a principal
// without execute-api:Invoke on the route, gets 403 from API Gateway and
// never reaches the function. It prints the status, the headers that
// matter (Retry-After, Content-Type) and the body.
//
//	go run ./cmd/transfer -url "$TransfersApiUrl" -account 42 -id tr-1001 -amount -2500
//
// (make transfer URL=… ACCOUNT=42 ID=tr-1001 AMOUNT=-2500 from the
// repository's root.) Credentials and region come from the AWS SDK's
// default chain (AWS_PROFILE, AWS_REGION, …); the region defaults to the
// one in the API's host name. The principal needs execute-api:Invoke on
// the route: ExampleStack.GrantInvokeTransfers grants it in CDK.
//
// Locally there is no API Gateway: `make invoke FN=account-transfers
// EVENT=events/http-api-transfer.json` hands the function the event API
// Gateway would send after authorizing a request like this one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "transfer:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("transfer", flag.ContinueOnError)
	var t Transfer
	fs.StringVar(&t.APIURL, "url", "", "the HTTP API's URL: the stack's output TransfersApiUrl (required)")
	fs.StringVar(&t.Account, "account", "", "the account whose balance changes (required)")
	fs.StringVar(&t.ID, "id", "", "the transfer's ID; a retry with the same ID is applied once (required)")
	fs.Int64Var(&t.Amount, "amount", 0, "the change, in cents (negative for a debit)")
	region := fs.String("region", "", "the API's region (default: from the URL's host name, else the SDK's)")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if t.APIURL == "" || t.Account == "" || t.ID == "" {
		fs.Usage()
		return errors.New("-url, -account and -id are required")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("loading AWS configuration: %w", err)
	}
	if *region != "" {
		cfg.Region = *region
	}
	req, err := t.SignedRequest(ctx, cfg, time.Now())
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", req.URL, err)
	}
	defer resp.Body.Close()
	return printResponse(out, resp)
}

// printResponse writes the status line, the headers a caller acts on and
// the body.
func printResponse(out io.Writer, resp *http.Response) error {
	fmt.Fprintf(out, "%s %s\n", resp.Proto, resp.Status)
	for _, h := range []string{"Content-Type", "Retry-After", "Idempotent-Replayed", "Apigw-Requestid"} {
		if v := resp.Header.Get(h); v != "" {
			fmt.Fprintf(out, "%s: %s\n", h, v)
		}
	}
	fmt.Fprintln(out)
	if _, err := io.Copy(out, resp.Body); err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	fmt.Fprintln(out)
	return nil
}
