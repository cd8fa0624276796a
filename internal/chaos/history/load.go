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
		LockOps: map[string]int{}, LedgerOps: map[string]int{},
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
	case KindEnd:
		if w := h.Workers[e.Worker]; w != nil {
			w.Ended, w.ExitCode = t, e.Code
			if e.Code != 0 && !w.Killed() {
				h.Problems = append(h.Problems, fmt.Sprintf("worker %d failed (exit code %d): %s", e.Worker, e.Code, e.Err))
			}
		}
	}
}

// fold turns one worker's events, in the order it recorded them, into
// calls, sections and counts.
func (h *History) fold(w *Worker, events []Event) {
	var (
		call *Call
		sec  *Section
	)
	at := func(ns int64) time.Time { return time.Unix(0, ns) }
	for _, e := range events {
		t := at(e.Time)
		switch e.Kind {
		case KindCall:
			call = &Call{Worker: w.ID, Lock: e.Lock, Start: t}
			h.Calls = append(h.Calls, call)
		case KindEnter:
			sec = &Section{
				Worker: w.ID, Lock: e.Lock, Lease: e.Lease, Token: e.Token, Enter: t,
				Deadline: at(e.Deadline), TTL: time.Duration(e.TTL) * time.Millisecond,
				Heartbeat: e.Heartbeat, Void: e.Void,
			}
			if e.ExpiresAt != 0 {
				sec.ExpiresAt = time.UnixMilli(e.ExpiresAt)
			}
			h.Sections = append(h.Sections, sec)
			if call != nil {
				call.End, call.Result = t, "acquired"
			}
		case KindWrite, KindLate:
			h.LedgerOps[e.Kind+"/"+e.Result]++
			if sec == nil {
				h.Problems = append(h.Problems, fmt.Sprintf("worker %d: %s outside a section", w.ID, e.Kind))
				continue
			}
			wr := &Write{Start: at(e.Start), End: t, Result: e.Result}
			if e.Kind == KindWrite {
				sec.Write = wr
			} else {
				sec.Late = wr
			}
		case KindPause, KindKillMe, KindExit:
			if sec == nil {
				h.Problems = append(h.Problems, fmt.Sprintf("worker %d: %s outside a section", w.ID, e.Kind))
				continue
			}
			sec.Zombie = sec.Zombie || e.Kind == KindPause
			if sec.End.IsZero() {
				sec.End, sec.EndBy = t, e.Kind
			}
			if e.Kind == KindExit && e.Deadline != 0 {
				sec.Deadline = at(e.Deadline)
			}
		case KindDone:
			if sec != nil {
				sec.Release, sec.Done = e.Result, t
			} else if call != nil {
				call.End, call.Result = t, e.Result
			}
			call, sec = nil, nil
		case KindLockOp:
			h.LockOps[e.Op+"/"+e.Result]++
			if e.Op == "acquire" && e.Result == ResultOK {
				h.Grants = append(h.Grants, Grant{Worker: w.ID, Lock: e.Lock, Lease: e.Lease, Token: e.Token, At: t})
			}
		case KindHTTP:
			h.Requests[e.Op]++
			if e.Fault != "" {
				h.Faults[e.Fault]++
			}
			if e.Delayed {
				h.Faults["delay"]++
			}
		}
	}
	end := w.KilledAt
	if end.IsZero() {
		end = w.Ended
	}
	if call != nil && call.End.IsZero() {
		call.End, call.Result = end, "killed"
	}
	if sec != nil && sec.End.IsZero() {
		if !w.Killed() {
			h.Problems = append(h.Problems, fmt.Sprintf("worker %d ended inside the section of lease %s without being killed", w.ID, sec.Lease))
		}
		sec.End, sec.EndBy = end, "kill"
	}
}
