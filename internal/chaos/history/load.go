package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// File names in a run's directory.
const (
	DriverFile = "run.jsonl"
	FinalFile  = "final.json"
)

// WorkerFile is the name of worker id's history file.
func WorkerFile(id int) string { return fmt.Sprintf("worker-%03d.jsonl", id) }

// Load reads the run in dir into a History.
func Load(dir string) (*History, error) {
	h := &History{
		Workers: map[int]*Worker{}, Requests: map[string]int{}, Faults: map[string]int{},
		LockOps: map[string]int{}, LedgerOps: map[string]int{}, LockRequests: map[string]int{}, LateLanded: map[string]int{}, LateAcquires: map[int][]time.Time{}, Stalls: map[int][]Span{},
		forcedSeen: map[LeaseKey]bool{}, releasedSeen: map[LeaseKey]bool{}, requests: map[LeaseKey]*leaseRequests{}, stored: map[LeaseKey][]StoredEnd{}, forceSent: map[leaseToken]*Force{},
	}
	driver, err := readEvents(filepath.Join(dir, DriverFile), h)
	if err != nil {
		return nil, err
	}
	for _, e := range driver {
		h.driverEvent(e)
	}
	b, err := os.ReadFile(filepath.Join(dir, FinalFile))
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	if err := json.Unmarshal(b, &h.Final); err != nil {
		return nil, fmt.Errorf("history: %s: %w", FinalFile, err)
	}
	ids := make([]int, 0, len(h.Workers))
	for id := range h.Workers {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		events, err := readEvents(filepath.Join(dir, WorkerFile(id)), h)
		if errors.Is(err, fs.ErrNotExist) {
			continue // it died or stopped before it began
		}
		if err != nil {
			return nil, err
		}
		h.fold(h.Workers[id], events)
	}
	for id, ls := range h.Final.Locks {
		if ls.Exists {
			h.sight(id, ls.LeaseID, ls.Token, ls.RelLease, ls.ForcedLease, h.Final.At)
		}
	}
	h.derive()
	return h, nil
}

// readEvents reads a history file. A last line without its newline is a
// write that a kill cut short, and is dropped; any other bad line is a
// problem.
func readEvents(path string, h *History) ([]Event, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	lines := bytes.Split(b, []byte("\n"))
	lines = lines[:len(lines)-1] // after the last newline: empty, or cut short
	events := make([]Event, 0, len(lines))
	for n, line := range lines {
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			h.Problems = append(h.Problems, fmt.Sprintf("%s line %d: %v", filepath.Base(path), n+1, err))
			continue
		}
		events = append(events, e)
	}
	return events, nil
}

func (h *History) driverEvent(e Event) {
	t := time.Unix(0, e.Time)
	switch e.Kind {
	case KindRun:
		if e.Run != nil {
			h.Run = *e.Run
		}
	case KindSpawn:
		h.Workers[e.Worker] = &Worker{ID: e.Worker, PID: e.PID, Offset: time.Duration(e.Offset), Spawned: t}
	case KindKill:
		if w := h.Workers[e.Worker]; w != nil && !w.Killed() {
			w.KilledAt, w.KillReason = t, e.Reason
		}
	case KindTerm:
		if w := h.Workers[e.Worker]; w != nil && w.TermedAt.IsZero() {
			w.TermedAt = t
		}
	case KindEnd:
		if w := h.Workers[e.Worker]; w != nil {
			w.Ended, w.ExitCode = t, e.Code
			// A worker asked to stop before it set up its handler (a
			// replacement spawned just before the end, on a busy
			// machine) dies of the signal: no failure. A section it left
			// open would still be reported.
			termed := e.Code == -1 && !w.TermedAt.IsZero()
			if e.Code != 0 && !w.Killed() && !termed {
				h.Problems = append(h.Problems, fmt.Sprintf("worker %d failed (exit code %d): %s", e.Worker, e.Code, e.Err))
			}
		}
	}
}

// fold turns one worker's events, in the order it recorded them, into
// calls, sections, forces, batches and counts. Events of concurrent calls
// (an SQS batch's records, the operator) interleave; each names its call.
func (h *History) fold(w *Worker, events []Event) {
	calls := map[int]*Call{}
	secs := map[int][]*Section{} // by call
	batches := map[int]*Batch{}
	at := func(ns int64) time.Time {
		if ns == 0 {
			return time.Time{}
		}
		return time.Unix(0, ns)
	}
	problem := func(e Event, what string) {
		h.Problems = append(h.Problems, fmt.Sprintf("worker %d: %s event of call %d: %s", w.ID, e.Kind, e.Call, what))
	}
	// byLease finds the section of e's call on e's lock (and lease, if e
	// names one): the sections of one call share a lease ID when it took
	// several lock IDs.
	byLease := func(e Event) *Section {
		for _, s := range secs[e.Call] {
			if s.Lock == e.Lock && (e.Lease == "" || s.Lease == e.Lease) {
				return s
			}
		}
		return nil
	}
	for _, e := range events {
		t := at(e.Time)
		switch e.Kind {
		case KindCall:
			c := &Call{Worker: w.ID, ID: e.Call, Path: e.Path, Locks: e.Locks, Short: e.Short, Start: t}
			calls[e.Call] = c
			h.Calls = append(h.Calls, c)
		case KindEnter:
			s := &Section{
				Worker: w.ID, Call: e.Call, Path: e.Path, Lock: e.Lock, Lease: e.Lease, Token: e.Token, Enter: t,
				Deadline: at(e.Deadline), CtxDeadline: at(e.CtxDl), TTL: time.Duration(e.TTL) * time.Millisecond,
				Heartbeat: e.Heartbeat, Void: e.Void, Batch: e.Batch, Msg: e.Msg,
			}
			if e.ExpiresAt != 0 {
				s.ExpiresAt = time.UnixMilli(e.ExpiresAt)
			}
			secs[e.Call] = append(secs[e.Call], s)
			h.Sections = append(h.Sections, s)
			if c := calls[e.Call]; c != nil && c.End.IsZero() {
				c.End, c.Result = t, "acquired"
			}
		case KindWrite, KindLate:
			h.LedgerOps[e.Kind+"/"+e.Result]++
			s := byLease(Event{Call: e.Call, Lock: e.Lock})
			if s == nil {
				problem(e, "outside a section")
				continue
			}
			wr := &Write{Start: at(e.Start), End: t, Result: e.Result}
			if e.Kind == KindWrite {
				s.Write = wr
			} else {
				s.Late = wr
			}
		case KindExtend:
			s := byLease(e)
			if s == nil {
				problem(e, "outside a section")
				continue
			}
			s.Extends = append(s.Extends, &Extend{
				Start: at(e.Start), End: t, TTL: time.Duration(e.TTL) * time.Millisecond, Shorter: e.Shorter, Short: e.Short,
				Result: e.Result, Err: e.Err, Before: at(e.Before), After: at(e.Deadline),
			})
		case KindCtxDone:
			for _, s := range secs[e.Call] {
				if s.CtxDone.IsZero() {
					s.CtxDone = t
				}
			}
		case KindPause, KindKillMe:
			if len(secs[e.Call]) == 0 {
				problem(e, "outside a section")
				continue
			}
			for _, s := range secs[e.Call] {
				s.Zombie = s.Zombie || e.Kind == KindPause
				if s.End.IsZero() {
					s.End, s.EndBy = t, e.Kind
				}
			}
		case KindExit:
			s := byLease(e)
			if s == nil {
				problem(e, "outside a section")
				continue
			}
			if s.End.IsZero() {
				s.End, s.EndBy = t, e.Kind
			}
			if s.Gone.IsZero() {
				s.Gone = t
			}
			if e.Deadline != 0 {
				s.Deadline = at(e.Deadline)
			}
		case KindDone:
			if e.Lease != "" {
				if s := byLease(e); s != nil {
					s.Release, s.ReleaseErr, s.Done = e.Result, e.Err, t
				} else {
					problem(e, "for a lease with no section")
				}
			} else if c := calls[e.Call]; c != nil && c.End.IsZero() {
				c.End, c.Result, c.Err = t, e.Result, e.Err
			}
		case KindLockOp:
			h.LockOps[e.Op+"/"+e.Result]++
			if e.Op == OpAcquire && e.Result == ResultOK {
				// The item's ForcedLease may name this lease ID from an
				// earlier acquire of the same request (its answer lost, then
				// force-released, then acquired again by the SDK's retry
				// with a new token): only a lease that is released is
				// force-released.
				released := e.Lease != "" && e.RelLease == e.Lease
				h.Grants = append(h.Grants, Grant{Worker: w.ID, Lock: e.Lock, Lease: e.Lease, Token: e.Token, At: t,
					Released: released, Forced: released && e.Forced == e.Lease})
			}
			if e.Result == ResultOK && e.ReqExp != 0 && e.Req != "" && (e.Op == OpAcquire || e.Op == OpExtend) {
				k := LeaseKey{e.Lock, e.Req}
				h.stored[k] = append(h.stored[k], StoredEnd{Op: e.Op, Sent: at(e.Start), At: t, End: time.UnixMilli(e.ReqExp)})
			}
			if e.Op == OpRelease && e.Result == ResultRefused && e.Req != "" && e.Lease == e.Req && e.RelLease != e.Req {
				h.SelfRefused = append(h.SelfRefused, Grant{Worker: w.ID, Lock: e.Lock, Lease: e.Lease, Token: e.Token, At: t,
					Forced: e.Forced == e.Lease})
			}
			if e.Lease != "" {
				h.sight(e.Lock, e.Lease, e.Token, e.RelLease, e.Forced, t)
			}
		case KindRead:
			if e.Lease != "" {
				h.sight(e.Lock, e.Lease, e.Token, e.RelLease, e.Forced, t)
			}
		case KindForce:
			h.Forces = append(h.Forces, &Force{Worker: w.ID, Lock: e.Lock, Lease: e.Lease, Token: e.Token, Start: at(e.Start), End: t, Result: e.Result, Err: e.Err})
			if e.Result == ResultOK {
				h.forcedSeen[LeaseKey{e.Lock, e.Lease}] = true
			}
		case KindHTTP:
			h.Requests[e.Op]++
			if e.Fault != "" {
				h.Faults[e.Fault]++
			}
			if e.Delayed {
				h.Faults["delay"]++
			}
			if e.LockOp != "" {
				h.LockRequests[e.LockOp]++
				if e.LateMs > 0 {
					h.LateLanded[e.LockOp]++
					if e.LockOp == OpAcquire {
						h.LateAcquires[w.ID] = append(h.LateAcquires[w.ID], t)
					}
				}
			}
			if e.LockOp == OpForce && e.Lease != "" {
				k := leaseToken{e.Lock, e.Lease, e.Token}
				if f := h.forceSent[k]; f == nil || t.Before(f.Start) {
					h.forceSent[k] = &Force{Worker: w.ID, Lock: e.Lock, Lease: e.Lease, Token: e.Token, Start: t, End: t, Result: ResultError,
						Err: "the operator died before its answer"}
				}
			}
			if e.Lease != "" && (e.LockOp == OpAcquire || e.LockOp == OpRelease || e.LockOp == OpExtend) {
				k := LeaseKey{e.Lock, e.Lease}
				r := h.requests[k]
				if r == nil {
					r = &leaseRequests{}
					h.requests[k] = r
				}
				r.maxExp = max(r.maxExp, e.ExpiresAt)
				if e.LockOp == OpExtend {
					r.maxExtend = max(r.maxExtend, e.ExpiresAt)
				}
				if t.After(r.last) {
					r.last = t
				}
			}
		case KindStall:
			h.Stalls[w.ID] = append(h.Stalls[w.ID], Span{Start: at(e.Start), End: t})
		case KindBatch:
			b := &Batch{Worker: w.ID, ID: e.Batch, Start: t, Deadline: at(e.Deadline), Records: e.Records, FIFO: e.FIFO,
				Grace: time.Duration(e.GraceMs) * time.Millisecond, Reserve: time.Duration(e.Reserve) * time.Millisecond,
				Policy: e.Policy, Heartbeat: e.Heartbeat}
			batches[e.Batch] = b
			h.Batches = append(h.Batches, b)
		case KindBatchEnd:
			if b := batches[e.Batch]; b != nil {
				b.End, b.Result, b.Err, b.Failures = t, e.Result, e.Err, e.Failures
			} else {
				problem(e, fmt.Sprintf("end of unknown batch %d", e.Batch))
			}
		case KindRecLog:
			if b := batches[e.Batch]; b != nil {
				b.Logs = append(b.Logs, RecLog{At: t, Msg: e.Msg, Message: e.Reason, Err: e.Err, Locks: e.Locks, Invalid: e.Invalid})
			}
		}
	}
	end := w.KilledAt
	if end.IsZero() {
		end = w.Ended
	}
	for _, c := range calls {
		if c.End.IsZero() {
			c.End, c.Result = end, "killed"
		}
	}
	for _, ss := range secs {
		for _, s := range ss {
			if s.Gone.IsZero() {
				s.Gone = end // it paused or asked to be killed, and died
			}
			if !s.End.IsZero() {
				continue
			}
			if !w.Killed() && !h.overdue(batches, s) {
				h.Problems = append(h.Problems, fmt.Sprintf("worker %d ended inside the section of lease %s without being killed", w.ID, s.Lease))
			}
			s.End, s.EndBy = end, "kill"
		}
	}
}

// overdue reports whether s is an SQS record's section in a batch that
// outlived its deadline (the checker reports the batch).
func (h *History) overdue(batches map[int]*Batch, s *Section) bool {
	b := batches[s.Batch]
	return s.Path == PathSQS && b != nil && b.Result == ResultOverdue
}

// sight records a lock item seen at t: who held it, and what it says of
// earlier leases.
func (h *History) sight(lock, lease string, token int64, relLease, forcedLease string, t time.Time) {
	if lease != "" {
		h.Sightings = append(h.Sightings, Sighting{Lock: lock, Lease: lease, Token: token, At: t})
	}
	if forcedLease != "" {
		h.forcedSeen[LeaseKey{lock, forcedLease}] = true
	}
	// ReleasedLease and ForcedLease name the same lease when its release
	// was an operator's: both are set by the force, and the holder's own
	// release sets only the first.
	if relLease != "" && relLease != forcedLease {
		h.releasedSeen[LeaseKey{lock, relLease}] = true
	}
}

// derive links every section to what the rest of the history says about
// its lease: its grant, the force-releases that went through, its own
// release seen in an item, and the requests sent for it.
func (h *History) derive() {
	grants := map[leaseToken]*Grant{}
	for i := range h.Grants {
		g := &h.Grants[i]
		if k := (leaseToken{g.Lock, g.Lease, g.Token}); grants[k] == nil {
			grants[k] = g
		}
	}
	// A force names the lease ID and the token the operator read: one
	// lease ID may be acquired twice, with two tokens, when the SDK's
	// retry of an acquire lands after the first attempt's lease ended.
	forces := map[leaseToken]*Force{}
	recorded := map[leaseToken]bool{}
	for _, f := range h.Forces {
		k := leaseToken{f.Lock, f.Lease, f.Token}
		recorded[k] = true
		f.Landed = f.Result == ResultOK || h.forcedSeen[LeaseKey{f.Lock, f.Lease}]
		if !f.Landed {
			continue
		}
		// The earliest attempt on the lease is the earliest it may have
		// been force-released.
		if cur := forces[k]; cur == nil || f.Start.Before(cur.Start) {
			forces[k] = f
		}
	}
	for k, f := range h.forceSent {
		if !recorded[k] && h.forcedSeen[LeaseKey{k.lock, k.lease}] {
			// Sent by an operator killed before the answer came, and
			// it went through: only an item tells.
			f.Landed = true
			h.Forces = append(h.Forces, f)
			forces[k] = f
		}
	}
	for _, s := range h.Sections {
		k := LeaseKey{s.Lock, s.Lease}
		s.Granted = grants[leaseToken{s.Lock, s.Lease, s.Token}]
		s.Forced = forces[leaseToken{s.Lock, s.Lease, s.Token}]
		s.ReleasedByHolder = h.releasedSeen[k]
		if r := h.requests[k]; r != nil {
			if r.maxExp > 0 {
				s.MaxExp = time.UnixMilli(r.maxExp)
			}
			if r.maxExtend > 0 {
				s.MaxExtendExp = time.UnixMilli(r.maxExtend)
			}
			s.LastRequest = r.last
		}
		s.Stored = h.stored[k]
		if s.MaxExp.Before(s.ExpiresAt) {
			s.MaxExp = s.ExpiresAt
		}
	}
	sort.SliceStable(h.Sightings, func(i, j int) bool { return h.Sightings[i].At.Before(h.Sightings[j].At) })
}
