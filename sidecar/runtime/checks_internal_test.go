package runtime

import (
	"slices"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/bundle"
)

// TestChecksAreTheSpec: Open runs every check of spec/bundle/checks.json, each once, in
// the file's order.
func TestChecksAreTheSpec(t *testing.T) {
	got := bundle.CheckNames(append(bundle.Checks(), (&loader{}).checks()...))
	if want := bundle.LoadSpec().Checks; !slices.Equal(got, want) {
		t.Fatalf("Open runs %v\nchecks.json lists %v", got, want)
	}
}
