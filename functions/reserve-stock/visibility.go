package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/dynalock/dynalock/middleware"
)

// VisibilityBackoff is the environment variable that turns the visibility
// backoff off when "false" (the demo's comparison run). Optional; any
// strconv.ParseBool value; the default is on.
const VisibilityBackoff = "SQS_VISIBILITY_BACKOFF"

// visibilityBackoff returns the option that brings a record whose SKU was
// held back soon after the lock can be free (middleware.
// WithVisibilityBackoff, its defaults: from 1 s, capped by the queue's own
// visibility timeout), with an SQS client from the SDK's default chain
// (AWS_ENDPOINT_URL_SQS points it elsewhere, as the demo does). It sends
// no request.
func visibilityBackoff(ctx context.Context, getenv func(string) string) ([]middleware.Option, error) {
	if v := getenv(VisibilityBackoff); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: want true or false", VisibilityBackoff, v)
		}
		if !on {
			return nil, nil
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("the SQS client's configuration: %w", err)
	}
	return []middleware.Option{middleware.WithVisibilityBackoff(sqs.NewFromConfig(cfg))}, nil
}
