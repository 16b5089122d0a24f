package runtime

import (
	"context"
	"fmt"

	"github.com/dwcp/dwcp-ml/sidecar/bundle"
)

// ModelParity is one model's golden check: OK, or the first difference.
type ModelParity struct {
	Model  string `json:"model"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Parity checks every model of the bundle in dir against its golden predictions, as
// Open does, but goes on after a mismatch so that each model gets a result. An error
// means the bundle as a whole could not be checked (files, versions, library).
func Parity(ctx context.Context, dir string, cfg Config) (*bundle.Manifest, []ModelParity, error) {
	path, version, err := startLibrary(cfg.LibraryPath)
	if err != nil {
		return nil, nil, err
	}
	ld, b, err := readBundle(ctx, dir, version, path, true)
	if err != nil {
		return nil, nil, err
	}
	defer ld.close()
	var res []ModelParity
	for i := range b.Manifest.Models {
		entry := &b.Manifest.Models[i]
		r := ModelParity{Model: entry.Name, OK: true,
			Detail: fmt.Sprintf("%d rows match bit for bit", b.Goldens[entry.Name].InputShape[0])}
		if err := ld.failed[i]; err != nil {
			r.OK, r.Detail = false, err.Error()
		}
		res = append(res, r)
	}
	return &b.Manifest, res, nil
}
