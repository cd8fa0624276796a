// Package ddbclient builds the DynamoDB client the lock uses when its
// Config names none, and that the module's own tools share: the AWS SDK's
// default chain, quiet against DynamoDB Local.
package ddbclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// New returns a DynamoDB client configured by the AWS SDK's default chain
// (environment variables such as AWS_REGION and AWS_ENDPOINT_URL_DYNAMODB,
// shared config files, IAM roles); region, when not empty, overrides the
// chain's. It sends no request.
//
// With no region from either, it returns ErrNoRegion. Against an endpoint on this
// machine (DynamoDB Local), it turns off response checksum validation,
// since DynamoDB Local sends no checksum with its error responses and the
// SDK would log a warning for every contended acquire; against anything
// else validation stays on. optFns adjust the client further.
func New(ctx context.Context, region string, optFns ...func(*dynamodb.Options)) (*dynamodb.Client, error) {
	var loadOpts []func(*config.LoadOptions) error
	if region != "" {
		loadOpts = append(loadOpts, config.WithRegion(region))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("lock: load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		return nil, ErrNoRegion
	}
	quiet := func(o *dynamodb.Options) {
		// o.BaseEndpoint is the endpoint the chain found (AWS_ENDPOINT_URL_DYNAMODB,
		// AWS_ENDPOINT_URL, endpoint_url in the config file), if any.
		o.DisableValidateResponseChecksum = isLoopback(aws.ToString(o.BaseEndpoint))
	}
	return dynamodb.NewFromConfig(awsCfg, append([]func(*dynamodb.Options){quiet}, optFns...)...), nil
}

// ErrNoRegion means neither the caller nor the environment named a region:
// every request would fail.
var ErrNoRegion = errors.New("no AWS region: set Config.Region, or AWS_REGION in the environment (any region works with DynamoDB Local)")

// isLoopback reports whether endpoint is a URL on this machine
// (localhost or a loopback address), such as DynamoDB Local's
// http://127.0.0.1:8000.
func isLoopback(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return false
	}
	if u.Hostname() == "localhost" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}
