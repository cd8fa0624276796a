package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/dynalock/dynalock/admin"
)

// claimView is an idempotency record as --json prints it. Times are UTC.
type claimView struct {
	ClaimID   string   `json:"claimId"`
	State     string   `json:"state"`
	Namespace string   `json:"namespace,omitempty"`
	Function  string   `json:"function,omitempty"`
	KeyName   string   `json:"keyName,omitempty"`
	Keys      []string `json:"keys,omitempty"`
	// The completion: when, until when it answers duplicates, and the
	// stored result's size.
	CompletedAt *time.Time `json:"completedAt,omitempty"`
	DoneUntil   *time.Time `json:"doneUntil,omitempty"`
	ResultBytes *int       `json:"resultBytes,omitempty"`
	PayloadHash string     `json:"payloadHash,omitempty"`
	// The claim's lease: the one that completed it, or holds it now.
	Owner     string     `json:"owner,omitempty"`
	LeaseID   string     `json:"leaseId,omitempty"`
	Token     int64      `json:"token"`
	RequestID string     `json:"requestId,omitempty"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	// Forgotten is the last forget, kept for audit after a later run.
	Forgotten *forgetView `json:"forgotten,omitempty"`
	CleanupAt *time.Time  `json:"cleanupAt,omitempty"`
}

type forgetView struct {
	Lease  string    `json:"lease"`
	By     string    `json:"by"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

func claimViewOf(r admin.Record, now time.Time) claimView {
	v := claimView{
		ClaimID: r.LockID, State: string(r.ClaimState(now)), Namespace: r.Keying.Namespace, Function: r.Keying.Scope,
		KeyName: r.Keying.KeyName, Keys: r.Keying.Keys, CompletedAt: utc(r.CompletedAt), DoneUntil: utc(r.DoneUntil),
		PayloadHash: r.PayloadHash, Owner: r.Owner, LeaseID: r.LeaseID, Token: r.Token, RequestID: r.RequestID,
		ExpiresAt: utc(r.ExpiresAt), CleanupAt: utc(r.CleanupAt),
	}
	if !r.DoneUntil.IsZero() {
		n := len(r.Result)
		v.ResultBytes = &n
	}
	if f := r.Forgotten; f.Lease != "" {
		v.Forgotten = &forgetView{Lease: f.Lease, By: f.By, Reason: f.Reason, At: f.At.UTC()}
	}
	return v
}

// writeClaimTable prints idempotency records as an aligned table, one a
// line, the claim ID last (it is long).
func writeClaimTable(w io.Writer, recs []admin.Record, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATE\tFUNCTION\tKEY\tCOMPLETED AT\tEXPIRES IN\tRESULT\tTOKEN\tCLAIM ID")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.ClaimState(now), dash(r.Keying.Scope), dash(keyText(r.Keying)),
			dash(stamp(r.CompletedAt, time.RFC3339)), doneIn(r, now), resultSize(r), r.Token, r.LockID)
	}
	return tw.Flush()
}

// writeClaim prints one idempotency record, a field a line.
func writeClaim(w io.Writer, r admin.Record, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name, value string) {
		if value != "" {
			fmt.Fprintf(tw, "%s\t%s\n", name, value)
		}
	}
	const ms = "2006-01-02T15:04:05.000Z07:00"
	st := r.ClaimState(now)
	row("Claim ID", r.LockID)
	row("State", fmt.Sprintf("%s: %s", st, nextDelivery(st)))
	row("Namespace", r.Keying.Namespace)
	row("Function", r.Keying.Scope)
	row("Key", keyText(r.Keying))
	row("Completed at", withAge(r.CompletedAt, now, ms))
	if !r.DoneUntil.IsZero() {
		row("Expires at", withAge(r.DoneUntil, now, ms))
		row("Result", resultSize(r))
	}
	row("Payload SHA-256", r.PayloadHash)
	row("Owner", r.Owner)
	row("Lease ID", r.LeaseID)
	row("Fencing token", fmt.Sprint(r.Token))
	row("Request ID", r.RequestID)
	if st == admin.ClaimInProgress {
		row("Lease ends at", withAge(r.ExpiresAt, now, ms))
	}
	if f := r.Forgotten; f.Lease != "" {
		what := "Forgotten"
		if f.Lease != r.LeaseID {
			what = "Earlier forget" // of an earlier run's completion
		}
		row(what, fmt.Sprintf("%s by %s: %s", stamp(f.At, ms), f.By, f.Reason))
	}
	row("Cleanup after", withAge(r.CleanupAt, now, time.RFC3339))
	return tw.Flush()
}

// nextDelivery says what the next delivery of an event does in state st.
func nextDelivery(st admin.ClaimState) string {
	switch st {
	case admin.ClaimInProgress:
		return "a delivery is running the handler; another one finds the claim held"
	case admin.ClaimCompleted:
		return "the next delivery is answered with the stored result, without running"
	}
	return "the next delivery runs the handler"
}

// keyText is how a record was keyed, in one line: name=key, or
// name=[keys…] for several.
func keyText(k admin.Keying) string {
	if !k.Stored {
		return ""
	}
	keys := ""
	if len(k.Keys) == 1 {
		keys = k.Keys[0]
	} else {
		b, _ := json.Marshal(k.Keys)
		keys = string(b)
	}
	return k.KeyName + "=" + keys
}

// doneIn is how long a completion still answers duplicates.
func doneIn(r admin.Record, now time.Time) string {
	switch {
	case r.DoneUntil.IsZero():
		return "-"
	case now.Before(r.DoneUntil):
		return human(r.DoneUntil.Sub(now))
	}
	return "ended " + human(now.Sub(r.DoneUntil)) + " ago"
}

func resultSize(r admin.Record) string {
	switch {
	case r.DoneUntil.IsZero():
		return "-"
	case r.Result == nil:
		return "none"
	}
	return fmt.Sprintf("%d bytes", len(r.Result))
}
