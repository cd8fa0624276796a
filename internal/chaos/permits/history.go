// Package permits is the fault-injection proof of lock IDs with N > 1
// permits (lock.WithPermits): holders on faulty connections, with skewed
// clocks, short callers, pauses past their leases, extends, heartbeats,
// crashes (holders that stop without releasing), take permits of a few
// IDs; every fact is recorded, one JSON line each, and the check judges
// the run from that file alone: never more than N holders inside their
// exclusive time at once, no token handed out twice, each holder's tokens
// increasing, a token granted after another was seen greater, and
// lease-checked writes applied no more often than acknowledged or unknown.
package permits

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Kinds of history lines.
const (
	KindRun   = "run"   // the run's settings (first line)
	KindCall  = "call"  // a holder asks for a permit (Sent: before its acquire)
	KindEnter = "enter" // the holder got a permit and entered its section
	KindExit  = "exit"  // the section ended: the holder is out
	KindDie   = "die"   // the holder stops without releasing: a crash
	KindWrite = "write" // a lease-checked write returned
	KindEnd   = "end"   // the run's end: the tables as read then
)

// Event is one line of the history. Times are the machine's clock in Unix
// nanoseconds (one process: every holder shares it).
type Event struct {
	Kind   string `json:"kind"`
	Holder int    `json:"holder,omitempty"`
	Call   int    `json:"call,omitempty"`
	Lock   string `json:"lock,omitempty"`
	Lease  string `json:"lease,omitempty"`
	Token  int64  `json:"token,omitempty"`
	Time   int64  `json:"t"`
	// Until is when the holder's exclusive time ends at the latest: its
	// context's deadline at entry (enter), or the lease's deadline when it
	// died or paused (die, exit of a paused holder).
	Until int64 `json:"until,omitempty"`
	// Result of a write: "ok", "lost", "error" (outcome unknown).
	Result string `json:"result,omitempty"`
	// Run settings (run) and the ledger counts read at the end (end).
	Permits  int              `json:"permits,omitempty"`
	Settings map[string]any   `json:"settings,omitempty"`
	Counters map[string]int64 `json:"counters,omitempty"`
}

// recorder appends events to a file, one JSON line each.
type recorder struct {
	mu sync.Mutex // protects w
	f  *os.File
	w  *bufio.Writer
}

func newRecorder(path string) (*recorder, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &recorder{f: f, w: bufio.NewWriter(f)}, nil
}

func (r *recorder) record(e Event) {
	if e.Time == 0 {
		e.Time = time.Now().UnixNano()
	}
	b, _ := json.Marshal(e)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.w.Write(b)
	r.w.WriteByte('\n')
}

func (r *recorder) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return errorsJoin(r.w.Flush(), r.f.Close())
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// Load reads a history.
func Load(r io.Reader) ([]Event, error) {
	var out []Event
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for n := 1; s.Scan(); n++ {
		var e Event
		if err := json.Unmarshal(s.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("permits: history line %d: %w", n, err)
		}
		out = append(out, e)
	}
	return out, s.Err()
}
