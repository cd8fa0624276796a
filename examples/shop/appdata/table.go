// Package appdata defines the example functions' application table: the
// data the locks protect, kept apart from the lock table.
package appdata

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// PartitionKey is the application table's partition key (type S), such as
// "sku#BLUE-MUG" or "account#42".
const PartitionKey = "Id"

// CreateTableInput returns the CreateTable request for an application table
// named name, with on-demand billing. The CDK stack and the local demo both
// build their table from PartitionKey.
func CreateTableInput(name string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(PartitionKey), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(PartitionKey), KeyType: types.KeyTypeHash},
		},
	}
}
