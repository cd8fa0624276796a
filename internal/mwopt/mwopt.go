// Package mwopt carries the Lambda middleware's settings that applications
// never change but the module's own proofs do: the grace a lease outlasts
// the invocation's deadline by, and lock options for every acquire. They
// travel in the invocation's context, so that the middleware's public
// options stay the ones a user needs.
package mwopt

import (
	"context"
	"time"

	"github.com/dynalock/dynalock/internal/lockopt"
)

type key struct{}

// Settings are the hidden settings of one invocation.
type Settings struct {
	// Grace, when positive, replaces the default grace (1 s).
	Grace time.Duration
	// LockOptions are applied to every acquire, before the middleware's own.
	LockOptions []func(*lockopt.Options)
}

// NewContext returns ctx carrying s.
func NewContext(ctx context.Context, s Settings) context.Context {
	return context.WithValue(ctx, key{}, s)
}

// FromContext returns the settings ctx carries, if any.
func FromContext(ctx context.Context) (Settings, bool) {
	s, ok := ctx.Value(key{}).(Settings)
	return s, ok
}
