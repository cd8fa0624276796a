package stack

import (
	"path/filepath"
	"strconv"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
	"github.com/dynalock/dynalock/examples/shop/accounts"
	"github.com/dynalock/dynalock/examples/shop/rollup"
	"github.com/dynalock/dynalock/examples/shop/stock"
	"github.com/dynalock/dynalock/infra/locktable"
)

// MemoryMB is every example function's memory size.
const MemoryMB = 256

// AsyncRetryAttempts is how many times Lambda retries a failed
// asynchronous invocation (EventBridge, schedule) before sending the event
// to the function's dead-letter queue; Lambda's own default.
const AsyncRetryAttempts = 2

// functionSpec describes one example function.
type functionSpec struct {
	name    string // directory under functions/ and the asset directory
	id      string // construct ID
	timeout time.Duration
	// lockNamespace is the namespace of the function's lock IDs: the
	// LockNamespace of its package (stock, accounts, rollup), which
	// functions/<name>/main.go passes to env.Middleware. Its grant covers
	// only the lock IDs that start with lockNamespace + "/".
	lockNamespace string
	// appActions are the DynamoDB actions the function sends to the
	// application table: those of the store it uses (stock.API,
	// accounts.API, rollup.API).
	appActions []string
	// async is true for functions invoked asynchronously, which get a
	// dead-letter queue as their on-failure destination.
	async bool
	// leaseWrites is true for functions whose stores write through
	// lock.Lease.Write (lease-checked transactions whose check of the
	// lease is a ConditionCheck): their lock grant adds
	// dynamodb:ConditionCheckItem (locktable.WriteActions). Those that
	// write with lock.Lease.Complete need no more than UpdateItem: its
	// transaction releases the lease (and completes the idempotency
	// claim) with Update actions.
	leaseWrites bool
	// env adds to the function's environment (beyond the table names).
	env map[string]string
}

func functionSpecs() []functionSpec {
	return []functionSpec{
		{name: ReserveStock, id: "ReserveStock", timeout: 30 * time.Second, lockNamespace: stock.LockNamespace,
			appActions: []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}},
		{name: AccountEvents, id: "AccountEvents", timeout: 30 * time.Second, lockNamespace: accounts.LockNamespace, async: true,
			appActions: []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}},
		{name: NightlyRollup, id: "NightlyRollup", timeout: 5 * time.Minute, lockNamespace: rollup.LockNamespace, async: true,
			appActions: []string{"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Scan"}},
		// The account lock namespace, shared with AccountEvents: the two
		// exclude each other on one account.
		{name: AccountTransfers, id: "AccountTransfers", timeout: TransfersTimeout, lockNamespace: accounts.LockNamespace,
			appActions: []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}},
		// The SKU lock namespace, shared with ReserveStock; its alerts are
		// read with GetItem and written with PutItem (in a lease-checked
		// transaction).
		{name: LowStockAlerts, id: "LowStockAlerts", timeout: AlertsTimeout, lockNamespace: stock.LockNamespace, leaseWrites: true,
			appActions: []string{"dynamodb:GetItem", "dynamodb:PutItem"}},
		// The tenants' permits (ExportsLockNamespace/<tenant>); each
		// export record is an UpdateItem in a lease-checked transaction.
		{name: TenantExports, id: "TenantExports", timeout: ExportsTimeout, lockNamespace: ExportsLockNamespace, leaseWrites: true,
			appActions: []string{"dynamodb:UpdateItem"},
			env:        map[string]string{EnvTenantPermits: strconv.Itoa(TenantPermits)}},
	}
}

// LockPrefix returns the prefix of the lock IDs the named function takes,
// the only ones its role may write ("" for an unknown name).
func LockPrefix(name string) string {
	for _, s := range functionSpecs() {
		if s.name == name {
			return s.lockNamespace + "/"
		}
	}
	return ""
}

// LockActions returns the DynamoDB actions the named function's role may
// send to the lock table: locktable.WriteActions for the functions that
// make lease-checked writes, else locktable.Actions (nil for an unknown
// name).
func LockActions(name string) []string {
	for _, s := range functionSpecs() {
		if s.name == name {
			if s.leaseWrites {
				return locktable.WriteActions()
			}
			return locktable.Actions()
		}
	}
	return nil
}

func seconds(d time.Duration) awscdk.Duration {
	return awscdk.Duration_Seconds(jsii.Number(d.Seconds()))
}

// newFunction defines spec's function with its own role and log group. Its
// role may write to its log group, take the locks of its namespace and send
// spec.appActions to the application table, on those ARNs only. onFailure,
// when not nil, receives the events of failed asynchronous invocations.
func (s *ExampleStack) newFunction(spec functionSpec, onFailure awssqs.IQueue, c config) awslambda.Function {
	logs := awslogs.NewLogGroup(s.Stack, jsii.String(spec.id+"Logs"), &awslogs.LogGroupProps{
		Retention:     c.logRetention,
		RemovalPolicy: c.removal,
	})
	role := awsiam.NewRole(s.Stack, jsii.String(spec.id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("Execution role of " + spec.name),
	})
	logs.GrantWrite(role)
	env := map[string]*string{
		EnvLockTable: s.LockTable.TableName(),
		EnvAppTable:  s.AppTable.TableName(),
	}
	for k, v := range spec.env {
		env[k] = jsii.String(v)
	}
	props := &awslambda.FunctionProps{
		Description:  jsii.String("DynaLock example function " + spec.name),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String(Bootstrap),
		Code:         awslambda.Code_FromAsset(jsii.String(filepath.Join(c.assetDir, spec.name)), nil),
		Timeout:      seconds(spec.timeout),
		MemorySize:   jsii.Number(MemoryMB),
		Role:         role,
		LogGroup:     logs,
		Environment:  &env,
	}
	if onFailure != nil {
		props.OnFailure = awslambdadestinations.NewSqsDestination(onFailure)
		props.RetryAttempts = jsii.Number(AsyncRetryAttempts)
	}
	fn := awslambda.NewFunction(s.Stack, jsii.String(spec.id), props)
	if spec.leaseWrites {
		s.LockTable.GrantLockWrite(fn, LockPrefix(spec.name))
	} else {
		s.LockTable.GrantLock(fn, LockPrefix(spec.name))
	}
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      fn,
		Actions:      jsii.Strings(spec.appActions...),
		ResourceArns: jsii.Strings(*s.AppTable.TableArn()),
	})
	return fn
}
