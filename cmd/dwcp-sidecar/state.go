package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/store"
)

// restoreState loads the online store's snapshot from path ("" = none). Whatever is wrong
// with it, the sidecar starts (empty) and serves: a refused snapshot (corrupt, another
// format version, beyond the store's bounds) is one error line and is moved aside to
// path.corrupt-<UTC time>, so the next snapshot does not overwrite the evidence.
func restoreState(st *store.Store, path string, log *slog.Logger) {
	if path == "" {
		return
	}
	start := time.Now()
	n, err := st.ReadSnapshot(path)
	switch {
	case err == nil:
		log.Info("online store restored", "state", path, "entities", n, "took", time.Since(start).Round(time.Millisecond))
	case errors.Is(err, fs.ErrNotExist):
		log.Info("online store starts empty: no state snapshot yet", "state", path)
	case errors.Is(err, store.ErrSnapshot):
		aside := path + ".corrupt-" + time.Now().UTC().Format("20060102T150405Z")
		if rerr := os.Rename(path, aside); rerr != nil {
			aside = "not moved: " + rerr.Error()
		}
		log.Error("online store starts empty: state snapshot refused", "err", err, "kept_as", aside)
	default:
		log.Error("online store starts empty: state snapshot unreadable", "state", path, "err", err)
	}
}

// saveState writes the store's snapshot to path ("" = none) after the drain, atomically.
func saveState(st *store.Store, path string, log *slog.Logger) error {
	if path == "" {
		return nil
	}
	start := time.Now()
	n, err := st.WriteSnapshot(path)
	if err != nil {
		log.Error("online store not saved", "state", path, "err", err)
		return fmt.Errorf("saving the online store: %w", err)
	}
	log.Info("online store saved", "state", path, "entities", n, "took", time.Since(start).Round(time.Millisecond))
	return nil
}
