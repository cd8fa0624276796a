package demo

import "fmt"

// count returns n with its noun, singular when n is 1: count(1, "account",
// "accounts") is "1 account", count(0, "run", "runs") is "0 runs".
func count[N ~int | ~int64](n N, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
