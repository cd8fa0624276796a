package admin_test

import (
	"testing"

	"github.com/dynalock/dynalock/internal/dynamotest"
)

var srv *dynamotest.Server

func TestMain(m *testing.M) { dynamotest.Main(m, &srv) }
