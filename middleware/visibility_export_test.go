package middleware

// BackoffJitter replaces the backoff's random source for a test: jitter(n)
// must return a value in [0, n).
func BackoffJitter(jitter func(n int64) int64) BackoffOption {
	return func(b *backoffOptions) { b.jitter = jitter }
}
