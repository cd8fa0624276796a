package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/logging"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/lock"
)

// Environment variables the command reads besides the AWS SDK's own.
const (
	envTable = "DYNALOCK_TABLE"
	// localRegion is the region used with a custom endpoint when none is
	// configured: DynamoDB Local accepts any.
	localRegion = "us-east-1"
)

// app is one invocation: its streams, the common flags and, once made, its
// DynamoDB client.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	now            func() time.Time

	table    string
	region   string
	endpoint string

	// The table's shape (lock.Config's fields of the same names), and the
	// definition resolve makes of it.
	shape lock.Config
	def   admin.TableDefinition
}

// register adds the flags every command takes.
func (a *app) register(fs *flag.FlagSet) {
	fs.StringVar(&a.table, "table", "", "lock table `name` (default $"+envTable+")")
	fs.StringVar(&a.region, "region", "", "AWS `region` (default from the AWS configuration, such as $AWS_REGION)")
	fs.StringVar(&a.endpoint, "endpoint", "", "DynamoDB endpoint `URL`, such as http://127.0.0.1:8000 for DynamoDB Local\n(default $AWS_ENDPOINT_URL_DYNAMODB, else AWS's own)")
	fs.StringVar(&a.shape.PartitionKey, "partition-key", "", "the table's partition key `attribute` (default LockId)")
	fs.StringVar(&a.shape.SortKey, "sort-key", "", "the table's sort key `attribute`, if it has one (with --sort-key-value)")
	fs.StringVar(&a.shape.SortKeyValue, "sort-key-value", "", "the sort key `value` of lock items")
	fs.StringVar(&a.shape.PartitionKeyPrefix, "partition-key-prefix", "", "`prefix` of lock items' partition key values (default none)")
	fs.StringVar(&a.shape.TTLAttribute, "ttl-attribute", "", "the table's TTL `attribute` (default TTL)")
}

// resolve fills in defaults from the environment and checks the common
// flags.
func (a *app) resolve() error {
	if a.table == "" {
		a.table = os.Getenv(envTable)
	}
	if a.table == "" {
		return usageError("no lock table: pass --table or set $%s", envTable)
	}
	var err error
	if a.def, err = admin.TableFor(a.shape); err != nil {
		return usageError("%w", err)
	}
	return nil
}

// config returns cfg on the command's table, in its shape.
func (a *app) config(cfg lock.Config) lock.Config {
	cfg.TableName = a.table
	cfg.PartitionKey, cfg.SortKey, cfg.SortKeyValue = a.shape.PartitionKey, a.shape.SortKey, a.shape.SortKeyValue
	cfg.PartitionKeyPrefix, cfg.TTLAttribute = a.shape.PartitionKeyPrefix, a.shape.TTLAttribute
	return cfg
}

// client returns a DynamoDB client configured from the standard AWS chain
// and the common flags. With a custom endpoint (DynamoDB Local), response
// checksum validation is off, since DynamoDB Local omits the checksum on
// error responses, and the region defaults to localRegion.
func (a *app) client(ctx context.Context) (*dynamodb.Client, error) {
	// The SDK's own warnings go where the command's messages go.
	opts := []func(*config.LoadOptions) error{config.WithLogger(logging.NewStandardLogger(a.stderr))}
	if a.region != "" {
		opts = append(opts, config.WithRegion(a.region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if a.endpoint != "" {
			o.BaseEndpoint = aws.String(a.endpoint)
		}
		if o.BaseEndpoint != nil {
			o.DisableValidateResponseChecksum = true
			if o.Region == "" {
				o.Region = localRegion
			}
		}
		a.region = o.Region
	})
	if a.region == "" {
		return nil, usageError("no AWS region: pass --region or set $AWS_REGION")
	}
	if a.endpoint == "" {
		a.endpoint = aws.ToString(db.Options().BaseEndpoint) // from the environment or config file
	}
	if err := checkEndpoint(a.endpoint); err != nil {
		return nil, err
	}
	return db, nil
}

// checkEndpoint refuses an endpoint that is not an http:// or https:// URL
// with a host, which the SDK would only report at the first request, as
// "failed to resolve service endpoint".
func checkEndpoint(endpoint string) error {
	if endpoint == "" {
		return nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageError("--endpoint (or $AWS_ENDPOINT_URL_DYNAMODB) %q is not a URL: "+
			"want http:// or https://, a host and a port, such as http://127.0.0.1:8000 for DynamoDB Local", endpoint)
	}
	return nil
}

// parseArgs parses args with fs, allowing flags after positional
// arguments (`release ID --force`), and returns the positional ones. After
// "--" everything is positional.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
