package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// Snapshot file format, version 1 (little-endian):
//
//	header  magic "DWCPSTOR" (8 bytes), version uint32, reserved uint32 (0),
//	        payload length uint64, SHA-256 of the payload (32 bytes)
//	payload entities uint64, then per entity: kind uint8, id string, schema string,
//	        channels uint32, newest timestamp int64, oldest timestamp ever observed int64,
//	        last observed (Unix ns) int64,
//	        samples uint32, timestamps int64 × samples, values float64 × samples ×
//	        channels (IEEE bits), host flag uint8 and, when 1, the host state: domain
//	        string, capacity float64 × 4, allocated float64 × 4, vm count int64, NIC Mbps,
//	        failure rate, cost float64, maintenance uint8
//	string  uint32 length, then the bytes
//
// A reader refuses any other version: a new field is a new version.
const (
	snapshotMagic   = "DWCPSTOR"
	SnapshotVersion = 1
	headerLen       = 8 + 4 + 4 + 8 + sha256.Size
)

// ErrSnapshot matches every error of ReadSnapshot about the file's content (errors.Is).
var ErrSnapshot = errors.New("store snapshot refused")

// SnapshotError says why a snapshot was refused.
type SnapshotError struct {
	Path   string
	Reason string
}

func (e *SnapshotError) Error() string {
	return fmt.Sprintf("store snapshot %s refused: %s", e.Path, e.Reason)
}

func (e *SnapshotError) Is(target error) bool { return target == ErrSnapshot }

// WriteSnapshot writes every entity to path atomically: a temporary file in the same
// directory, synced, renamed over path, then the directory synced. Returns the entities
// written.
func (s *Store) WriteSnapshot(path string) (int, error) {
	var p bytes.Buffer
	n := 0
	p.Write(make([]byte, 8)) // entity count, set below
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, e := range sh.m {
			encodeEntity(&p, k, e)
			n++
		}
		sh.mu.Unlock()
	}
	payload := p.Bytes()
	binary.LittleEndian.PutUint64(payload[:8], uint64(n))
	sum := sha256.Sum256(payload)
	hdr := make([]byte, 0, headerLen)
	hdr = append(hdr, snapshotMagic...)
	hdr = binary.LittleEndian.AppendUint32(hdr, SnapshotVersion)
	hdr = binary.LittleEndian.AppendUint32(hdr, 0)
	hdr = binary.LittleEndian.AppendUint64(hdr, uint64(len(payload)))
	hdr = append(hdr, sum[:]...)

	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, fmt.Errorf("store snapshot: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(hdr)
	if err == nil {
		_, err = f.Write(payload)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("store snapshot %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync() // the rename is durable once the directory is
		d.Close()
	}
	return n, nil
}

func putString(p *bytes.Buffer, s string) {
	p.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(s))))
	p.WriteString(s)
}

func putU64(p *bytes.Buffer, v uint64)  { p.Write(binary.LittleEndian.AppendUint64(nil, v)) }
func putF64(p *bytes.Buffer, v float64) { putU64(p, math.Float64bits(v)) }

func encodeEntity(p *bytes.Buffer, k key, e *buf) {
	p.WriteByte(byte(k.kind))
	putString(p, k.id)
	putString(p, k.schema)
	p.Write(binary.LittleEndian.AppendUint32(nil, uint32(e.ch)))
	putU64(p, uint64(e.maxTs))
	putU64(p, uint64(e.minTs))
	putU64(p, uint64(e.seen))
	p.Write(binary.LittleEndian.AppendUint32(nil, uint32(e.n())))
	for _, t := range e.ts[e.start:e.end] {
		putU64(p, uint64(t))
	}
	for _, v := range e.vals[e.start*e.ch : e.end*e.ch] {
		putF64(p, v)
	}
	if e.host == nil {
		p.WriteByte(0)
		return
	}
	h := e.host
	p.WriteByte(1)
	putString(p, h.Domain)
	for _, v := range h.Capacity {
		putF64(p, v)
	}
	for _, v := range h.Allocated {
		putF64(p, v)
	}
	putU64(p, uint64(int64(h.VMCount)))
	putF64(p, h.NICMbps)
	putF64(p, h.FailureRate)
	putF64(p, h.Cost)
	if h.Maintenance {
		p.WriteByte(1)
	} else {
		p.WriteByte(0)
	}
}

// reader decodes the payload; the first short read sets err and later reads give zeros.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		if r.err == nil {
			r.err = errors.New("payload ends inside an entity")
		}
		return make([]byte, max(n, 0))
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() byte     { return r.take(1)[0] }
func (r *reader) u32() uint32  { return binary.LittleEndian.Uint32(r.take(4)) }
func (r *reader) u64() uint64  { return binary.LittleEndian.Uint64(r.take(8)) }
func (r *reader) f64() float64 { return math.Float64frombits(r.u64()) }

func (r *reader) str() string {
	n := r.u32()
	if int64(n) > int64(len(r.b)) {
		r.err = cmpErr(r.err, fmt.Errorf("a string of %d bytes is longer than the rest of the payload", n))
		return ""
	}
	return string(r.take(int(n)))
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// ReadSnapshot replaces the store's content with the snapshot at path. Any defect (not a
// snapshot, another version, a length or checksum that does not match, an entity the
// store's bounds or the core's policy refuse) refuses the whole file with a
// *SnapshotError matching ErrSnapshot, and the store keeps what it held. A missing file
// is an error matching os.ErrNotExist. Returns the entities restored.
func (s *Store) ReadSnapshot(path string) (int, error) {
	bad := func(format string, args ...any) (int, error) {
		return 0, &SnapshotError{Path: path, Reason: fmt.Sprintf(format, args...)}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	// The largest file the bounds allow (every entity full, 8 channels, 4 KiB of names and
	// host state): anything bigger is refused before it is read into memory.
	limit := int64(headerLen) + 8 + int64(s.cfg.MaxEntities)*(int64(s.cfg.MaxSamples)*(8+8*8)+4096)
	if fi.Size() > limit {
		return bad("%d bytes; this store's bounds allow at most %d", fi.Size(), limit)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	if len(data) < headerLen || string(data[:8]) != snapshotMagic {
		return bad("not an online store snapshot (no %q header)", snapshotMagic)
	}
	if v := binary.LittleEndian.Uint32(data[8:12]); v != SnapshotVersion {
		return bad("format version %d; this sidecar reads version %d", v, SnapshotVersion)
	}
	plen := binary.LittleEndian.Uint64(data[16:24])
	payload := data[headerLen:]
	if uint64(len(payload)) != plen {
		return bad("payload is %d bytes, the header says %d (truncated or appended to)", len(payload), plen)
	}
	if sum := sha256.Sum256(payload); !bytes.Equal(sum[:], data[24:headerLen]) {
		return bad("SHA-256 of the payload does not match the header (corrupted)")
	}
	r := &reader{b: payload}
	count := r.u64()
	if count > uint64(s.cfg.MaxEntities) {
		return bad("%d entities; this store holds at most %d (-store-max-entities)", count, s.cfg.MaxEntities)
	}
	maps := make([]map[key]*buf, nShards)
	for i := range maps {
		maps[i] = map[key]*buf{}
	}
	var held, slots int64
	for i := uint64(0); i < count; i++ {
		k, e, reason := s.decodeEntity(r)
		if r.err != nil {
			return bad("entity %d: %v", i, r.err)
		}
		if reason != "" {
			return bad("entity %d (%s): %s", i, k, reason)
		}
		m := maps[s.shardIdx(k)]
		if _, dup := m[k]; dup {
			return bad("entity %d (%s) appears twice", i, k)
		}
		m[k] = e
		held += int64(e.n())
		slots += int64(len(e.ts))
	}
	if len(r.b) != 0 {
		return bad("%d bytes after the last entity", len(r.b))
	}
	for i := range s.shards {
		s.shards[i].mu.Lock()
	}
	for i := range s.shards {
		s.shards[i].m = maps[i]
	}
	s.gen.Add(1)
	s.entities.Store(int64(count))
	s.held.Store(held)
	s.capacity.Store(slots)
	for i := range s.shards {
		s.shards[i].mu.Unlock()
	}
	return int(count), nil
}

func (s *Store) decodeEntity(r *reader) (key, *buf, string) {
	k := key{kind: engine.EntityKind(r.u8()), id: r.str(), schema: r.str()}
	ch := int(r.u32())
	maxTs, minTs, seen := int64(r.u64()), int64(r.u64()), int64(r.u64())
	n := int(r.u32())
	if r.err != nil {
		return k, nil, ""
	}
	want, err := channels(k.schema)
	switch {
	case k.kind < engine.EntityVM || k.kind > engine.EntityLink:
		return k, nil, fmt.Sprintf("kind %d is not vm, host or link", int(k.kind))
	case k.id == "":
		return k, nil, "empty id"
	case err != nil:
		return k, nil, err.Error()
	case ch != want:
		return k, nil, fmt.Sprintf("%d channels; schema %s has %d", ch, k.schema, want)
	case n > s.cfg.MaxSamples:
		return k, nil, fmt.Sprintf("%d samples; this store holds at most %d per entity (-store-max-samples)", n, s.cfg.MaxSamples)
	case int64(n)*int64(8+8*ch) > int64(len(r.b)):
		return k, nil, fmt.Sprintf("%d samples do not fit in the rest of the payload", n)
	}
	c := max(n, min(s.needFor(k.schema).Bins+2, s.cfg.MaxSamples))
	e := &buf{ch: ch, ts: make([]int64, c), vals: make([]float64, c*ch), end: n, maxTs: maxTs, minTs: minTs, seen: seen}
	for j := range n {
		e.ts[j] = int64(r.u64())
	}
	for j := range n * ch {
		e.vals[j] = r.f64()
	}
	newest := int64(math.MinInt64)
	for j := range n {
		if !validSample(e.ts[j], e.vals[j*ch:(j+1)*ch]) {
			return k, nil, fmt.Sprintf("sample %d is outside the core's policy (timestamp %d)", j, e.ts[j])
		}
		newest = max(newest, e.ts[j])
	}
	if n > 0 && (newest != maxTs || minTs > e.ts[0]) {
		return k, nil, fmt.Sprintf("newest timestamp %d and oldest %d do not bound the samples (newest %d)", maxTs, minTs, newest)
	}
	switch r.u8() {
	case 0:
	case 1:
		h := &engine.HostInfo{Domain: r.str()}
		for j := range h.Capacity {
			h.Capacity[j] = r.f64()
		}
		for j := range h.Allocated {
			h.Allocated[j] = r.f64()
		}
		h.VMCount = int(int64(r.u64()))
		h.NICMbps, h.FailureRate, h.Cost = r.f64(), r.f64(), r.f64()
		switch r.u8() {
		case 0:
		case 1:
			h.Maintenance = true
		default:
			return k, nil, "maintenance flag is not 0 or 1"
		}
		if k.kind != engine.EntityHost {
			return k, nil, "host state on an entity that is not a host"
		}
		e.host = h
	default:
		return k, nil, "host flag is not 0 or 1"
	}
	return k, e, ""
}

func (s *Store) needFor(schema string) Need { return (*s.needs.Load())[schema] }
