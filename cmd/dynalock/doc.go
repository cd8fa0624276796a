// Dynalock is the operators' command for DynaLock lock tables: it lists the
// locks held, shows everything stored for one, force-releases a stuck lock
// without ever taking it from a newer holder, takes a lock to hold a job off,
// creates a lock table for local development, and shows the middleware's
// idempotency records, found by an event's key, and forgets a completion so
// that the event runs again.
//
// Usage:
//
//	dynalock list [--all] [--prefix P] [--json]
//	dynalock show ID [--json]
//	dynalock release ID --force --reason TEXT [--token N [--lease L]] [--by WHO]
//	dynalock acquire ID [--ttl D] [--owner NAME]
//	dynalock create-table
//	dynalock idempotency list [--all] [--namespace N | --prefix P] [--json]
//	dynalock idempotency show CLAIM-ID | --namespace N [--function F] --key K… [--json | --result]
//	dynalock idempotency forget CLAIM-ID | --namespace N [--function F] --key K… --reason TEXT [--token N] [--by WHO] [--force]
//	dynalock version
//
// Every command takes --table (default $DYNALOCK_TABLE), --region and
// --endpoint (default $AWS_ENDPOINT_URL_DYNAMODB). Credentials come from
// the standard AWS chain. `dynalock help` lists the flags and exit codes.
//
// Install it with:
//
//	go install github.com/dynalock/dynalock/cmd/dynalock@latest
package main
