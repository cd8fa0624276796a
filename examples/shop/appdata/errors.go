package appdata

import (
	"context"
	"errors"
	"time"
)

// ErrStaleToken means a fenced write was refused because the holder of a
// newer lease on the item's lock has written the item: the writer's lease
// ended and it must not act on what it read.
var ErrStaleToken = errors.New("appdata: write refused: a newer lease holder has written the item")

// ErrNotFound means the item a function works on does not exist.
var ErrNotFound = errors.New("appdata: item not found")

// Think waits d, or until ctx ends, and returns ctx's error in that case.
// The example functions call it between their read and their write to
// stand for slow work there (a payment check, a call to a supplier); the
// demo sets it to widen the window in which unlocked updates are lost.
func Think(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
