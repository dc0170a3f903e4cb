package e2e

import (
	"os"
	"testing"

	"ascend-device-plugin/tests/e2e/internal/testbed"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbed.RemoveBuilt()
	os.Exit(code)
}
