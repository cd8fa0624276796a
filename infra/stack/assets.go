package stack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// The example functions: directories under functions/ and build/, and the
// base of their construct IDs.
const (
	ReserveStock  = "reserve-stock"
	AccountEvents = "account-events"
	NightlyRollup = "nightly-rollup"
	// AccountTransfers serves the HTTP API's POST /accounts/{id}/transfers.
	AccountTransfers = "account-transfers"
	// LowStockAlerts consumes the application table's stream.
	LowStockAlerts = "low-stock-alerts"
	// TenantExports runs export jobs from ExportsQueue, at most
	// TenantPermits of one tenant at once.
	TenantExports = "tenant-exports"
)

// FunctionNames returns the example functions' names.
func FunctionNames() []string {
	return []string{ReserveStock, AccountEvents, NightlyRollup, AccountTransfers, LowStockAlerts, TenantExports}
}

// DefaultAssetDir is where `make build` puts the Lambda binaries,
// <dir>/<function>/bootstrap, relative to the repository root.
const DefaultAssetDir = "build"

// Bootstrap is the file name of a provided.al2023 function's executable.
const Bootstrap = "bootstrap"

// ErrMissingAsset means a function's bootstrap binary is not where the
// stack looks for it; `make build` makes it.
var ErrMissingAsset = errors.New("stack: missing function asset")

// CheckAssets reports whether dir holds every example function's
// bootstrap, as <dir>/<function>/bootstrap. Synthesis copies these files,
// so it fails without them.
func CheckAssets(dir string) error {
	var errs []error
	for _, fn := range FunctionNames() {
		p := filepath.Join(dir, fn, Bootstrap)
		st, err := os.Stat(p)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%w: %s (run make build): %w", ErrMissingAsset, p, err))
		case !st.Mode().IsRegular():
			errs = append(errs, fmt.Errorf("%w: %s is not a regular file", ErrMissingAsset, p))
		}
	}
	return errors.Join(errs...)
}
