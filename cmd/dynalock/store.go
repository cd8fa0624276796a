package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/dynalock/dynalock/admin"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/lock"
)

// getLock reads one lock's item with a consistent read. A missing item is
// an error with exitNotFound.
func getLock(ctx context.Context, def admin.TableDefinition, db *dynamodb.Client, table, id string) (admin.Record, error) {
	rec, found, err := def.Read(ctx, db, table, id)
	switch {
	case errors.Is(err, lock.ErrInvalidInput):
		return admin.Record{}, usageError("%w", err)
	case err != nil:
		return admin.Record{}, err
	case !found:
		return admin.Record{}, withCode(exitNotFound, "lock %q not found in table %q", id, table)
	}
	return rec, nil
}

// scanLocks reads every lock item whose ID starts with prefix, page by
// page with consistent reads, sorted by lock ID. pageSize limits the items
// each Scan request reads (0: DynamoDB's 1 MB pages). Items that do not
// parse are reported through bad and skipped.
func scanLocks(ctx context.Context, def admin.TableDefinition, db *dynamodb.Client, table, prefix string, pageSize int32, bad func(error)) ([]admin.Record, error) {
	in := def.ScanInput(table, prefix) // in a shared table, the lock items only
	if pageSize > 0 {
		in.Limit = aws.Int32(pageSize)
	}
	var recs []admin.Record
	for p := dynamodb.NewScanPaginator(db, in); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan table %q: %w", table, err)
		}
		for _, item := range page.Items {
			rec, err := def.Parse(item)
			if err != nil {
				bad(err)
				continue
			}
			recs = append(recs, rec)
		}
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].LockID < recs[j].LockID })
	return recs, nil
}

// noteTTL writes a note to stderr when the table's TTL is off, or on an
// attribute other than the table's (--ttl-attribute): the lock works, but the items of
// released and expired locks stay in the table for ever. It says nothing
// when it cannot tell (DescribeTimeToLive denied, say).
func noteTTL(ctx context.Context, a *app, db *dynamodb.Client) {
	out, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(a.table)})
	if err != nil || out.TimeToLiveDescription == nil {
		return
	}
	d := out.TimeToLiveDescription
	attr := aws.ToString(d.AttributeName)
	const after = "the items of released and expired locks are never deleted. " +
		"Turn TTL on for attribute %s (dynalock create-table does, on a lock table; or the table's definition in your infrastructure code)\n"
	switch {
	case d.TimeToLiveStatus == types.TimeToLiveStatusDisabled || d.TimeToLiveStatus == types.TimeToLiveStatusDisabling:
		fmt.Fprintf(a.stderr, "dynalock: note: TTL is off on table %q: "+after, a.table, a.def.TTLAttribute)
	case attr != a.def.TTLAttribute:
		fmt.Fprintf(a.stderr, "dynalock: note: table %q has TTL on attribute %q, not %s: "+after, a.table, attr, a.def.TTLAttribute, a.def.TTLAttribute)
	}
}
