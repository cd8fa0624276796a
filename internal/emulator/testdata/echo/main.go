// Command echo is a Lambda function for the emulator's tests: it returns
// its event after sleeping "sleepMs" (deaf to its deadline), or fails with
// "fail".
package main

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

type event struct {
	Say     string `json:"say"`
	SleepMs int    `json:"sleepMs"`
	Fail    string `json:"fail"`
}

func main() {
	lambda.Start(func(_ context.Context, e event) (event, error) {
		time.Sleep(time.Duration(e.SleepMs) * time.Millisecond) // deaf to ctx, as a hung handler is
		if e.Fail != "" {
			return event{}, errors.New(e.Fail)
		}
		return e, nil
	})
}
