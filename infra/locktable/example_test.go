package locktable_test

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"

	"github.com/dynalock/dynalock/infra/locktable"
)

// A function that takes locks needs the table's name in its environment
// and UpdateItem on the table; GrantLock gives it that and nothing more.
func ExampleLockTable_GrantLock() {
	var stack awscdk.Stack
	var fn awslambda.Function

	locks := locktable.New(stack, "Locks", nil)
	locks.GrantLock(fn)
	fn.AddEnvironment(jsii.String("LOCK_TABLE"), locks.TableName(), nil)
}

// With prefixes, the function may take only the locks whose IDs start with
// one of them: here, the locks of the function's own namespace.
func ExampleLockTable_GrantLock_prefix() {
	var stack awscdk.Stack
	var fn awslambda.Function

	locktable.New(stack, "Locks", nil).GrantLock(fn, "reserve-stock/")
}
