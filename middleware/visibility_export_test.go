package middleware

// BackoffJitter makes the visibility backoff of the options before it
// (WithVisibilityBackoff) draw its jitter from jitter, which must return a
// value in [0, n), instead of math/rand/v2: for tests that check exact
// delays.
func BackoffJitter(jitter func(n int64) int64) Option {
	return func(o *options) {
		if o.backoff != nil {
			b := *o.backoff
			b.jitter = jitter
			o.backoff = &b
		}
	}
}
