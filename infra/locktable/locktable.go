package locktable

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/lock"
)

// Props configures a LockTable. The zero value, like a nil *Props, is a
// table with a generated name that is kept when its stack is deleted.
type Props struct {
	// TableName is the table's physical name. The default, nil, lets
	// CloudFormation generate one; pass the name to functions through their
	// environment instead of hard-coding it.
	TableName *string
	// RemovalPolicy says what happens to the table when it leaves the stack.
	// The default, "", is awscdk.RemovalPolicy_RETAIN: the locks (and their
	// fencing counters) outlive the stack.
	RemovalPolicy awscdk.RemovalPolicy
	// Shape is the lock clients' table shape: lock.Config's PartitionKey,
	// SortKey, SortKeyValue, PartitionKeyPrefix and TTLAttribute (its
	// other fields are ignored). The zero value is admin.Table's. A shape
	// lock.NewClient would refuse is a synthesis error on the construct.
	Shape lock.Config
}

// LockTable is a DynamoDB table shaped by admin.Table: partition key
// admin.Table.PartitionKey, TTL on admin.Table.TTLAttribute, on-demand billing,
// point-in-time recovery and encryption at rest with the AWS managed key;
// or with Props.Shape, that shape's key and TTL attributes. For locks in a
// table of your own, see In.
type LockTable struct {
	constructs.Construct
	// Table is the underlying table (an AWS::DynamoDB::Table).
	Table awsdynamodb.Table
	def   admin.TableDefinition // its shape
}

// New defines a lock table in scope. props may be nil. An admin.Table whose
// key type CDK cannot express is reported as a synthesis error on the
// construct.
func New(scope constructs.Construct, id string, props *Props) *LockTable {
	if props == nil {
		props = &Props{}
	}
	removal := props.RemovalPolicy
	if removal == "" {
		removal = awscdk.RemovalPolicy_RETAIN
	}
	c := constructs.NewConstruct(scope, jsii.String(id))
	def, err := admin.TableFor(props.Shape)
	if err != nil {
		awscdk.Annotations_Of(c).AddError(jsii.String("locktable: " + err.Error()))
		def = admin.Table
	}
	keyType, err := attributeType(def.PartitionKeyType)
	if err != nil {
		awscdk.Annotations_Of(c).AddError(jsii.String(err.Error()))
		keyType = awsdynamodb.AttributeType_STRING
	}
	var sortKey *awsdynamodb.Attribute
	if def.SortKey != "" {
		sortKey = &awsdynamodb.Attribute{Name: jsii.String(def.SortKey), Type: awsdynamodb.AttributeType_STRING}
	}
	table := awsdynamodb.NewTable(c, jsii.String("Table"), &awsdynamodb.TableProps{
		TableName:           props.TableName,
		PartitionKey:        &awsdynamodb.Attribute{Name: jsii.String(def.PartitionKey), Type: keyType},
		SortKey:             sortKey,
		TimeToLiveAttribute: jsii.String(def.TTLAttribute),
		BillingMode:         awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		Encryption:    awsdynamodb.TableEncryption_AWS_MANAGED,
		RemovalPolicy: removal,
	})
	return &LockTable{Construct: c, Table: table, def: def}
}

// TableName returns the table's name (a token until deployment).
func (t *LockTable) TableName() *string { return t.Table.TableName() }

// TableArn returns the table's ARN (a token until deployment).
func (t *LockTable) TableArn() *string { return t.Table.TableArn() }

// attributeType maps a DynamoDB scalar type to its CDK attribute type.
func attributeType(t types.ScalarAttributeType) (awsdynamodb.AttributeType, error) {
	switch t {
	case types.ScalarAttributeTypeS:
		return awsdynamodb.AttributeType_STRING, nil
	case types.ScalarAttributeTypeN:
		return awsdynamodb.AttributeType_NUMBER, nil
	case types.ScalarAttributeTypeB:
		return awsdynamodb.AttributeType_BINARY, nil
	}
	return "", fmt.Errorf("locktable: admin.Table has partition key type %q, which is not S, N or B", t)
}
