package locktable_test

import (
	"errors"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/dynalock/dynalock/infra/locktable"
	"github.com/dynalock/dynalock/lock"
)

// shared is the shape of a single table's lock items: the application's
// key names, a sort key value and a prefix, the application's TTL.
var shared = lock.Config{PartitionKey: "PK", SortKey: "SK", SortKeyValue: "LOCK", PartitionKeyPrefix: "lock#", TTLAttribute: "expires"}

// TestShapes: a dedicated table in a custom shape has its key and TTL
// attributes; grants on lock items in the application's own table are
// scoped to them with dynamodb:LeadingKeys patterns that start with the
// prefix; a shape the lock refuses is refused here too.
func TestShapes(t *testing.T) {
	// GIVEN a stack with a dedicated table in the shared shape, an
	// application's table holding lock items, and roles granted on them
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("LockTableShapes"), nil)
	dedicated := locktable.New(stack, "Dedicated", &locktable.Props{Shape: shared})
	appTable := awsdynamodb.NewTable(stack, jsii.String("App"), &awsdynamodb.TableProps{
		PartitionKey:        &awsdynamodb.Attribute{Name: jsii.String("PK"), Type: awsdynamodb.AttributeType_STRING},
		SortKey:             &awsdynamodb.Attribute{Name: jsii.String("SK"), Type: awsdynamodb.AttributeType_STRING},
		TimeToLiveAttribute: jsii.String("expires"),
		BillingMode:         awsdynamodb.BillingMode_PAY_PER_REQUEST,
	})
	items, err := locktable.In(appTable, shared)
	if err != nil {
		t.Fatal(err)
	}
	role := func(id string) awsiam.Role {
		return awsiam.NewRole(stack, jsii.String(id), &awsiam.RoleProps{AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil)})
	}
	skus, all, dedicatedRole := role("Skus"), role("AllLocks"), role("DedicatedSkus")
	items.GrantLockWrite(skus, "sku/")
	items.GrantLock(all)
	dedicated.GrantLock(dedicatedRole, "sku/")

	// WHEN it is synthesized
	template := assertions.Template_FromStack(stack, nil)

	// THEN the dedicated table has the shape's key and TTL
	check(t, func() {
		template.HasResourceProperties(jsii.String("AWS::DynamoDB::Table"), &map[string]interface{}{
			"KeySchema": assertions.Match_ArrayEquals(&[]interface{}{
				map[string]interface{}{"AttributeName": "PK", "KeyType": "HASH"},
				map[string]interface{}{"AttributeName": "SK", "KeyType": "RANGE"},
			}),
			"AttributeDefinitions": assertions.Match_ArrayEquals(&[]interface{}{
				map[string]interface{}{"AttributeName": "PK", "AttributeType": "S"},
				map[string]interface{}{"AttributeName": "SK", "AttributeType": "S"},
			}),
			"TimeToLiveSpecification": map[string]interface{}{"AttributeName": "expires", "Enabled": true},
			"PointInTimeRecoverySpecification": map[string]interface{}{
				"PointInTimeRecoveryEnabled": true,
			},
		})
	})
	// AND the grants are scoped to the lock items by LeadingKeys patterns of the prefix
	for _, tt := range []struct {
		name     string
		role     awsiam.Role
		actions  interface{}
		arn      *string
		patterns []interface{}
	}{
		{"shared table, sku/ locks, lease-checked writes", skus, []interface{}{"dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:UpdateItem"}, appTable.TableArn(), []interface{}{"lock#sku/*"}},
		{"shared table, every lock", all, []interface{}{"dynamodb:GetItem", "dynamodb:UpdateItem"}, appTable.TableArn(), []interface{}{"lock#*"}},
		{"dedicated table with the prefix", dedicatedRole, []interface{}{"dynamodb:GetItem", "dynamodb:UpdateItem"}, dedicated.TableArn(), []interface{}{"lock#sku/*"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stmt := map[string]interface{}{
				"Effect":   "Allow",
				"Action":   tt.actions,
				"Resource": stack.Resolve(tt.arn),
				"Condition": map[string]interface{}{
					locktable.LeadingKeysCondition: map[string]interface{}{"dynamodb:LeadingKeys": tt.patterns},
				},
			}
			check(t, func() {
				template.HasResourceProperties(jsii.String("AWS::IAM::Policy"), &map[string]interface{}{
					"Roles": []interface{}{stack.Resolve(tt.role.RoleName())},
					"PolicyDocument": map[string]interface{}{
						"Statement": assertions.Match_ArrayEquals(&[]interface{}{assertions.Match_ObjectEquals(&stmt)}),
					},
				})
			})
		})
	}

	// AND a shape the lock refuses is refused: by In, and as a synthesis error by New
	if _, err := locktable.In(appTable, lock.Config{SortKey: "SK"}); !errors.Is(err, lock.ErrInvalidInput) {
		t.Errorf("In with a sort key and no value: %v, want ErrInvalidInput", err)
	}
	badStack := awscdk.NewStack(awscdk.NewApp(nil), jsii.String("LockTableBadShape"), nil)
	locktable.New(badStack, "Bad", &locktable.Props{Shape: lock.Config{TTLAttribute: "LockId"}})
	check(t, func() {
		assertions.Annotations_FromStack(badStack).HasError(jsii.String("/LockTableBadShape/Bad"), assertions.Match_StringLikeRegexp(jsii.String("table shape")))
	})
}
