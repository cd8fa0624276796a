package stack_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"

	"github.com/dynalock/dynalock/infra/stack"
)

func TestNilPropsEnvironmentAgnostic(t *testing.T) {
	// GIVEN a working directory with the default asset directory
	dir := t.TempDir()
	if err := writeAssets(filepath.Join(dir, stack.DefaultAssetDir)); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)

	// WHEN the stack is defined with nil props
	s := stack.NewExampleStack(awscdk.NewApp(nil), "NilProps", nil)
	tpl := assertions.Template_FromStack(s.Stack, nil)

	// THEN it synthesizes, with no account or region fixed anywhere
	if !*awscdk.Token_IsUnresolved(s.Account()) || !*awscdk.Token_IsUnresolved(s.Region()) {
		t.Errorf("account %s, region %s: want unresolved (environment-agnostic)", *s.Account(), *s.Region())
	}
	body, err := json.Marshal(tpl.ToJSON())
	if err != nil {
		t.Fatal(err)
	}
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`\b\d{12}\b`),                    // an account ID
		regexp.MustCompile(`\b[a-z]{2}(-gov)?-[a-z]+-\d\b`), // a region
	} {
		if m := re.Find(body); m != nil {
			t.Errorf("template contains %q", m)
		}
	}
	check(t, func() {
		tpl.ResourceCountIs(strPtr("AWS::Lambda::Function"), numPtr(float64(len(stack.FunctionNames()))))
	})
}

func TestCheckAssets(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(dir string) error
		wantErr bool
	}{
		{"all bootstraps present", writeAssets, false},
		{"none present", func(string) error { return nil }, true},
		{"one missing", func(dir string) error {
			if err := writeAssets(dir); err != nil {
				return err
			}
			return os.Remove(filepath.Join(dir, stack.NightlyRollup, stack.Bootstrap))
		}, true},
		{"bootstrap is a directory", func(dir string) error {
			if err := writeAssets(dir); err != nil {
				return err
			}
			p := filepath.Join(dir, stack.ReserveStock, stack.Bootstrap)
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Mkdir(p, 0o755)
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// GIVEN an asset directory
			dir := t.TempDir()
			if err := tt.prepare(dir); err != nil {
				t.Fatal(err)
			}
			// WHEN it is checked
			err := stack.CheckAssets(dir)
			// THEN only a complete one passes, and failures are ErrMissingAsset
			if (err != nil) != tt.wantErr {
				t.Fatalf("CheckAssets = %v, want error: %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, stack.ErrMissingAsset) {
				t.Errorf("CheckAssets = %v, not ErrMissingAsset", err)
			}
		})
	}
}

func strPtr(s string) *string   { return &s }
func numPtr(n float64) *float64 { return &n }
