package runtime

import (
	"context"
	"testing"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
)

// TestLoadAttachesCoreTrees: loading the default bundle proves the feature core's tree
// evaluator on the golden factor rows and serves every placement model (itp, itp_gb) with
// it; the window models keep ONNX Runtime.
func TestLoadAttachesCoreTrees(t *testing.T) {
	e, err := Open(context.Background(), testbundle.Dir(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	for name, m := range e.current.Load().models {
		if got := m.trees != nil; got != m.place {
			t.Errorf("%s (placement %v): tree evaluator attached %v", name, m.place, got)
		}
	}
}
