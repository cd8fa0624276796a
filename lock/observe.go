package lock

import (
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/internal/lockitem"
)

// A waiter may take a held lock over as soon as either of two rules holds
// (docs/GUARANTEES.md argues both):
//
//   - the wall-clock rule: the stored lease end plus the clock-skew
//     tolerance is before the waiter's clock (the acquire's :cutoff);
//   - the observed-lease rule: the waiter has seen the same lease version
//     (lockitem.AttrLeaseVersion) unchanged for the whole duration it granted
//     (lockitem.AttrLeaseMs), counted on its own monotonic clock from the
//     return of the first answer that showed it, plus a drift allowance.
//     The takeover write is conditional on that version still being the
//     item's, so a holder that extended since (a new version) keeps it.
//
// The first is safe on clocks within the tolerance, the second on clock
// rates alone.

const (
	attrLeaseVersion = lockitem.AttrLeaseVersion
	attrLeaseMs      = lockitem.AttrLeaseMs
	attrLeaseSeq     = lockitem.AttrLeaseSeq

	// driftPerMille is how much faster the waiter's monotonic clock may run
	// than the holder's, in thousandths: twice the 500 ppm that NTP slews
	// by at most. Half the holder's margin (its deadline comes the
	// tolerance before its lease's end) absorbs the drift first; only what
	// exceeds it is waited for. The other half absorbs the latency of the
	// request that showed the version (countFrom).
	driftPerMille = 1
)

// countFrom returns the local time from which a waiter counts a lease
// version that the answer to a request sent at sent and returned at recv
// showed: the send time, but never more than half the tolerance before
// the answer came. The holder started counting the version before its
// write, which landed before the answer was made, so before recv; counting
// from up to half the tolerance earlier is covered by the holder's
// deadline, the tolerance before its lease's end. A slow request thus
// costs the waiter at most half the tolerance, however slow.
func countFrom(sent, recv time.Time, skew time.Duration) time.Time {
	if early := recv.Add(-skew / 2); sent.Before(early) {
		return early
	}
	return sent
}

// sighting is what a waiter saw of a lock's item: the current lease and
// the version of the write that last granted it time.
type sighting struct {
	free    bool   // no item, or its lease was released
	leaseID string // the current lease
	// version and granted are the current lease's (empty and 0 when the
	// item carries none for it: then only the wall-clock rule applies).
	version string
	granted time.Duration
	expRaw  string    // the stored lease end, as stored (epoch ms)
	exp     time.Time // the same, parsed; zero when absent
	// first is when the waiter counts this version from, by the local
	// monotonic clock: countFrom of the first request that showed it.
	first time.Time
}

// sightingOf reads a lock's item (nil for none), as an answer counted
// from at (countFrom) showed it.
func sightingOf(item map[string]types.AttributeValue, at time.Time) sighting {
	s := sighting{first: at}
	lease := attrString(item, attrLease)
	if len(item) == 0 || lease == "" || attrString(item, attrReleasedLease) == lease {
		s.free = true
		return s
	}
	s.leaseID = lease
	if n, ok := item[attrExpiresAt].(*types.AttributeValueMemberN); ok {
		s.expRaw = n.Value
		if ms, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
			s.exp = time.UnixMilli(ms)
		}
	}
	ver := attrString(item, attrLeaseVersion)
	g, ok := item[attrLeaseMs].(*types.AttributeValueMemberN)
	if !ok || !strings.HasPrefix(ver, lease+".") || s.expRaw == "" {
		return s
	}
	ms, err := strconv.ParseInt(g.Value, 10, 64)
	if err != nil || ms <= 0 {
		return s
	}
	s.version, s.granted = ver, time.Duration(ms)*time.Millisecond
	return s
}

func attrString(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// sameVersion reports whether s shows the lease version t showed.
func (s sighting) sameVersion(t sighting) bool {
	return !s.free && !t.free && s.version != "" && s.leaseID == t.leaseID && s.version == t.version && s.expRaw == t.expRaw
}

// observedEnd returns when the observed-lease rule lets s's version be
// taken over, by the local monotonic clock, or the zero time when it
// cannot apply: the granted duration from when it is counted from, plus
// the drift beyond what half the holder's margin absorbs, plus a
// millisecond for the stored duration's precision.
func (s sighting) observedEnd(skew time.Duration) time.Time {
	if s.free || s.version == "" {
		return time.Time{}
	}
	drift := max(s.granted/1000*driftPerMille-skew/2, 0)
	return s.first.Add(s.granted + drift + time.Millisecond)
}

// watch is what a waiter has seen of the locks it waits for, by lock ID.
// One waiting call owns it; it is not safe for concurrent use.
type watch struct {
	o    options
	seen map[string]sighting
}

func newWatch(o options) *watch { return &watch{o: o, seen: map[string]sighting{}} }

// saw records a sighting of id's item, keeping the time of the first
// answer that showed its version.
func (w *watch) saw(id string, s sighting) {
	if old, ok := w.seen[id]; ok && old.sameVersion(s) {
		return
	}
	w.seen[id] = s
}

// due returns the sighting of id whose version the observed-lease rule
// lets an attempt made now take over, or nil.
func (w *watch) due(id string) *sighting {
	if w == nil {
		return nil
	}
	s, ok := w.seen[id]
	if !ok {
		return nil
	}
	end := s.observedEnd(w.o.Skew)
	if end.IsZero() || time.Now().Before(end) {
		return nil
	}
	return &s
}

// freeAt returns the earliest local time at which id may be taken over as
// last seen: now if it was free, else the earlier of the two rules'
// times; the zero time if nothing is known of it.
func (w *watch) freeAt(id string) time.Time {
	s, ok := w.seen[id]
	if !ok {
		return time.Time{}
	}
	now := time.Now()
	if s.free {
		return now
	}
	at := s.observedEnd(w.o.Skew)
	if !w.o.NoWallTakeover && !s.exp.IsZero() {
		// The stored end by the holder's clock; ours may be ahead or
		// behind by the tolerance.
		wall := now.Add(s.exp.Sub(w.o.Now()) + w.o.Skew + time.Millisecond)
		if at.IsZero() || wall.Before(at) {
			at = wall
		}
	}
	return at
}

// versioned makes an acquire (seq 0) or extend write the lease version
// of its sequence number seq, and the duration granted (see
// lockitem.AttrLeaseVersion). For an extend (monotone), the write also
// requires that no later write of the lease landed (a higher sequence
// number: its own retry passes, an older write is refused, so a version
// once replaced never comes back) and that no write of the lease granted
// more, so the stored duration never shrinks within a lease: a waiter that
// counts the current version's duration from when it saw it counts at
// least as long as any earlier write of the lease granted.
func versioned(in *dynamodb.UpdateItemInput, leaseID string, seq int64, granted time.Duration, monotone bool) {
	in.UpdateExpression = aws.String("SET #ver = :ver, #seq = :seq, #granted = :granted, " + strings.TrimPrefix(aws.ToString(in.UpdateExpression), "SET "))
	in.ExpressionAttributeNames["#ver"] = attrLeaseVersion
	in.ExpressionAttributeNames["#seq"] = attrLeaseSeq
	in.ExpressionAttributeNames["#granted"] = attrLeaseMs
	in.ExpressionAttributeValues[":ver"] = sAttr(leaseID + "." + strconv.FormatInt(seq, 10))
	in.ExpressionAttributeValues[":seq"] = nAttr(seq)
	in.ExpressionAttributeValues[":granted"] = nAttr(granted.Milliseconds())
	if monotone {
		in.ConditionExpression = aws.String(aws.ToString(in.ConditionExpression) +
			" AND (attribute_not_exists(#seq) OR #seq <= :seq) AND (attribute_not_exists(#granted) OR #granted <= :granted)")
	}
}

// wallBranches are the acquire condition's branches that judge a lease
// by the wall clock: NoWallTakeover removes them.
var wallBranches = []string{
	" OR #exp < :cutoff",
	" OR (attribute_not_exists(#exp) AND (attribute_not_exists(#ttl) OR #ttl < :cutoffSec))",
}

// takeoverCondition returns the acquire's condition: acquireCondition,
// without its wall-clock branches under NoWallTakeover, and with a branch
// that takes over the lease version seen when the observed-lease rule
// holds for it. It adds the names and values it uses.
func (r acquireRequest) takeoverCondition(names map[string]string, values map[string]types.AttributeValue) string {
	cond := acquireCondition
	if r.o.NoWallTakeover {
		for _, b := range wallBranches {
			cond = strings.Replace(cond, b, "", 1)
		}
		delete(values, ":cutoff")
		delete(values, ":cutoffSec")
	}
	if s := r.seen; s != nil {
		names["#ver"] = attrLeaseVersion
		values[":seenLease"] = sAttr(s.leaseID)
		values[":seenVer"] = sAttr(s.version)
		values[":seenExp"] = &types.AttributeValueMemberN{Value: s.expRaw}
		cond = "(" + cond + ") OR (#lease = :seenLease AND #ver = :seenVer AND #exp = :seenExp AND NOT (#forced = :lease))"
	}
	return cond
}

// extendWrite is one extend request's share of the lease's state: its
// sequence number, the duration it grants (at least what any earlier
// write of the lease granted), when it started by the monotonic clock,
// and the lease end it stores.
type extendWrite struct {
	seq     int64
	granted time.Duration
	started time.Time
	end     time.Time
}

// nextExtend numbers this lease's next extend by ttl and reads its clocks,
// all under the lease's mutex: of two concurrent extends, the one with the
// higher sequence number started later and stores an end no earlier (the
// holder's wall clock permitting), so letting it win (versioned) loses
// nothing the other would have granted but for a longer ttl.
func (l *part) nextExtend(ttl time.Duration) extendWrite {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	l.granted = max(l.granted, ttl)
	started := time.Now()
	return extendWrite{seq: l.seq, granted: l.granted, started: started, end: l.o.Now().Add(ttl)}
}

// supersededBy reports whether the item that refused extend w shows a
// later extend of the same lease (a higher sequence number) that stores an
// earlier end than w asked for: one asking for a shorter ttl, concurrent
// with w, that landed first. w is then tried again, numbered anew.
func (w extendWrite) supersededBy(item map[string]types.AttributeValue) bool {
	seq, ok := item[attrLeaseSeq].(*types.AttributeValueMemberN)
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(seq.Value, 10, 64)
	if err != nil || n <= w.seq {
		return false
	}
	exp, ok := item[attrExpiresAt].(*types.AttributeValueMemberN)
	if !ok {
		return false
	}
	ms, err := strconv.ParseInt(exp.Value, 10, 64)
	return err == nil && ms < ceilMilli(w.end).UnixMilli()
}
