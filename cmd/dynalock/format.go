package main

import (
	"encoding/json"
	"fmt"
	"github.com/dynalock/dynalock/admin"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// The states a lock's item can be in, as list and show name them.
const (
	stateHeld     = "held"           // its lease has not ended
	stateExpired  = "expired"        // its lease ended without a release
	stateReleased = "released"       // its lease was released by its holder
	stateForced   = "force-released" // its lease was released by an operator
	stateNoLease  = "no-lease"       // the item carries no lease (not written by DynaLock)
)

func stateOf(r admin.Record, now time.Time) string {
	switch {
	case r.LeaseID == "":
		return stateNoLease
	case r.Forced:
		return stateForced
	case r.Released:
		return stateReleased
	case r.Held(now):
		return stateHeld
	}
	return stateExpired
}

// lockView is a lock as --json prints it. Times are UTC; ExpiresInMs is
// negative once the lease has ended, and absent once it was released.
type lockView struct {
	LockID        string            `json:"lockId"`
	State         string            `json:"state"`
	Owner         string            `json:"owner,omitempty"`
	LeaseID       string            `json:"leaseId,omitempty"`
	Token         int64             `json:"token"`
	Host          string            `json:"host,omitempty"`
	RequestID     string            `json:"requestId,omitempty"`
	AcquiredAt    *time.Time        `json:"acquiredAt,omitempty"`
	ExpiresAt     *time.Time        `json:"expiresAt,omitempty"`
	ExpiresInMs   *int64            `json:"expiresInMs,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	ReleasedAt    *time.Time        `json:"releasedAt,omitempty"`
	Forced        bool              `json:"forced,omitempty"`
	ReleasedBy    string            `json:"releasedBy,omitempty"`
	ReleaseReason string            `json:"releaseReason,omitempty"`
	// EarlierForce is the last forced release of an earlier lease, kept
	// in the item for audit.
	EarlierForce *forceView `json:"earlierForcedRelease,omitempty"`
	CleanupAt    *time.Time `json:"cleanupAt,omitempty"`
}

// forceView is who forced a release, and why.
type forceView struct {
	By     string `json:"by"`
	Reason string `json:"reason"`
}

func viewOf(r admin.Record, now time.Time) lockView {
	v := lockView{
		LockID: r.LockID, State: stateOf(r, now), Owner: r.Owner, LeaseID: r.LeaseID, Token: r.Token,
		Host: r.Host, RequestID: r.RequestID, Metadata: r.Metadata,
		AcquiredAt: utc(r.AcquiredAt), ExpiresAt: utc(r.ExpiresAt), CleanupAt: utc(r.CleanupAt),
	}
	if !r.ExpiresAt.IsZero() && !r.Released {
		ms := r.ExpiresAt.Sub(now).Milliseconds()
		v.ExpiresInMs = &ms
	}
	if r.Released {
		v.ReleasedAt = utc(r.ReleasedAt)
	}
	switch {
	case r.Forced:
		v.Forced, v.ReleasedBy, v.ReleaseReason = true, r.ReleasedBy, r.ReleaseReason
	case r.ReleasedBy != "":
		v.EarlierForce = &forceView{By: r.ReleasedBy, Reason: r.ReleaseReason}
	}
	return v
}

func utc(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeTable prints records as an aligned table, one lock a line.
func writeTable(w io.Writer, recs []admin.Record, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LOCK ID\tSTATE\tOWNER\tREQUEST ID\tACQUIRED AT\tEXPIRES IN\tTOKEN")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", r.LockID, stateOf(r, now), dash(r.Owner),
			dash(r.RequestID), dash(stamp(r.AcquiredAt, time.RFC3339)), expiresIn(r, now), r.Token)
	}
	return tw.Flush()
}

// writeRecord prints everything stored for one lock, a field a line.
func writeRecord(w io.Writer, r admin.Record, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name, value string) {
		if value != "" {
			fmt.Fprintf(tw, "%s\t%s\n", name, value)
		}
	}
	const ms = "2006-01-02T15:04:05.000Z07:00"
	row("Lock ID", r.LockID)
	row("State", stateOf(r, now))
	row("Owner", r.Owner)
	row("Lease ID", r.LeaseID)
	row("Fencing token", fmt.Sprint(r.Token))
	row("Host", r.Host)
	row("Request ID", r.RequestID)
	row("Acquired at", withAge(r.AcquiredAt, now, ms))
	if r.Released && r.ExpiresAt.After(r.ReleasedAt) {
		// The lease ended at its release; its planned end means nothing now.
		row("Expires at", stamp(r.ExpiresAt, ms)+" (not reached: released first)")
	} else {
		row("Expires at", withAge(r.ExpiresAt, now, ms))
	}
	row("Metadata", metadata(r.Metadata))
	if r.Released {
		row("Released at", withAge(r.ReleasedAt, now, ms))
	}
	switch {
	case r.Forced:
		row("Released by", r.ReleasedBy)
		row("Release reason", r.ReleaseReason)
	case r.ReleasedBy != "":
		row("Earlier forced release", fmt.Sprintf("by %s: %s", r.ReleasedBy, r.ReleaseReason))
	}
	row("Cleanup after", withAge(r.CleanupAt, now, time.RFC3339))
	return tw.Flush()
}

// describe names a lock's holder in one line, for messages.
func describe(r admin.Record, now time.Time) string {
	s := fmt.Sprintf("%q (token %d, lease %s", r.Owner, r.Token, r.LeaseID)
	if r.RequestID != "" {
		s += ", request " + r.RequestID
	}
	switch st := stateOf(r, now); st {
	case stateHeld:
		s += ", expires in " + human(r.ExpiresAt.Sub(now))
	case stateExpired:
		s += ", lease ended " + human(now.Sub(r.ExpiresAt)) + " ago"
	default:
		s += ", " + st
	}
	return s + ")"
}

func expiresIn(r admin.Record, now time.Time) string {
	switch {
	case r.ExpiresAt.IsZero() || r.Released:
		return "-"
	case now.Before(r.ExpiresAt):
		return human(r.ExpiresAt.Sub(now))
	}
	return "ended " + human(now.Sub(r.ExpiresAt)) + " ago"
}

func withAge(t, now time.Time, layout string) string {
	if t.IsZero() {
		return ""
	}
	if d := t.Sub(now); d >= 0 {
		return fmt.Sprintf("%s (in %s)", stamp(t, layout), human(d))
	}
	return fmt.Sprintf("%s (%s ago)", stamp(t, layout), human(now.Sub(t)))
}

func stamp(t time.Time, layout string) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(layout)
}

// human formats a non-negative duration to the second.
func human(d time.Duration) string {
	if d < time.Second {
		return "<1s"
	}
	return d.Round(time.Second).String()
}

func metadata(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + m[k]
	}
	return strings.Join(keys, ", ")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
