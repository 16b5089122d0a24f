package rollout_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/rollout"
)

func TestRouterShare(t *testing.T) {
	const keys = 100_000
	for _, tc := range []struct {
		name     string
		weightBP int
		bound    float64 // points of percent
	}{
		{"off", 0, 0},
		{"1 %", 100, 0.2},
		{"10 %", 1000, 0.5},
		{"50 %", 5000, 0.5},
		{"all", 10000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := rollout.NewRouter(tc.weightBP)
			if err != nil {
				t.Fatal(err)
			}
			canary := 0
			for i := range keys {
				if r.Route(fmt.Sprintf("vm-%d", i)) == rollout.Canary {
					canary++
				}
			}
			share := 100 * float64(canary) / keys
			want := float64(tc.weightBP) / 100
			t.Logf("weight %d bp: %d of %d keys on the canary (%.3f %%)", tc.weightBP, canary, keys, share)
			if math.Abs(share-want) > tc.bound {
				t.Errorf("canary share %.3f %%, want %.2f ± %.2f", share, want, tc.bound)
			}
		})
	}
}

func TestRouterSticky(t *testing.T) {
	// One entity always gets one slot, and raising the weight never moves a canary entity
	// back to the champion.
	steps := []int{1000, 5000, 9999}
	for i := range 10_000 {
		key := fmt.Sprintf("link-%d", i)
		wasCanary := false
		for _, w := range steps {
			r := rollout.Router{WeightBP: w}
			first := r.Route(key)
			for range 3 {
				if got := r.Route(key); got != first {
					t.Fatalf("%s at %d bp: %s then %s", key, w, first, got)
				}
			}
			if wasCanary && first != rollout.Canary {
				t.Fatalf("%s left the canary when the weight rose to %d bp", key, w)
			}
			wasCanary = first == rollout.Canary
		}
	}
}

func TestRouterEdges(t *testing.T) {
	for _, tc := range []struct {
		name   string
		weight int
		entity string
		want   rollout.Slot
	}{
		{"empty entity at 100 %", 10000, "", rollout.Champion},
		{"any entity at 100 %", 10000, "vm-1", rollout.Canary},
		{"any entity at 0", 0, "vm-1", rollout.Champion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := (rollout.Router{WeightBP: tc.weight}).Route(tc.entity); got != tc.want {
				t.Errorf("Route(%q) at %d bp = %s, want %s", tc.entity, tc.weight, got, tc.want)
			}
		})
	}
	for _, w := range []int{-1, 10001} {
		if _, err := rollout.NewRouter(w); err == nil {
			t.Errorf("NewRouter(%d) accepted", w)
		}
	}
	// The hash is the stated function, so other implementations route alike: FNV-1a 64
	// mod 10000 (values from an independent implementation).
	for key, want := range map[string]int{"vm-1": 1846, "a": 1996} {
		if got := rollout.Bucket(key); got != want {
			t.Errorf("Bucket(%q) = %d, want %d", key, got, want)
		}
	}
}

func BenchmarkRoute(b *testing.B) {
	r := rollout.Router{WeightBP: 1000}
	for i := 0; b.Loop(); i++ {
		r.Route("vm-12345")
	}
}
