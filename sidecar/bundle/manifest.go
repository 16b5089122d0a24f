package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// ParseManifest runs the manifest.json and manifest.schema checks on the bytes of a
// manifest and decodes it. Errors are *engine.Error with CodeBadBundle and Check set.
func ParseManifest(data []byte) (*Manifest, error) {
	var m Manifest
	if err := checkJSON(data, LoadSpec().Limits.JSONDepth); err != nil {
		return nil, named(CheckManifestJSON, err)
	}
	if err := decodeManifest(data, &m); err != nil {
		return nil, named(CheckSchema, err)
	}
	return &m, nil
}

// level is one open object or array of the token walk.
type level struct {
	object  bool
	wantKey bool            // in an object: the next token is a key (or its end)
	keys    map[string]bool // in an object: the keys seen
}

// checkJSON refuses what encoding/json would accept or silently alter: invalid UTF-8
// (replaced by U+FFFD), duplicate keys (the last one wins), numbers beyond float64, a
// top level that is not one object, and nesting deeper than maxDepth. It walks tokens
// with an explicit stack, so no input can recurse it deep.
func checkJSON(data []byte, maxDepth int) error {
	if !utf8.Valid(data) {
		return bad("", "%s is not valid UTF-8", ManifestFile)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []*level
	for done := false; ; {
		tok, err := dec.Token()
		if err == io.EOF && done {
			return nil
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return bad("", "%s is not valid JSON: %v", ManifestFile, err)
		}
		if done {
			return bad("", "%s holds more than one top-level value (offset %d)", ManifestFile, dec.InputOffset())
		}
		if len(stack) == 0 && tok != json.Delim('{') {
			return bad("", "%s: the top level is not an object", ManifestFile)
		}
		if err := step(&stack, tok, dec.InputOffset(), maxDepth); err != nil {
			return err
		}
		done = len(stack) == 0
	}
}

// step applies one token to the stack of open containers.
func step(stack *[]*level, tok json.Token, offset int64, maxDepth int) error {
	var top *level
	if n := len(*stack); n > 0 {
		top = (*stack)[n-1]
	}
	if top != nil && top.object && top.wantKey {
		if key, ok := tok.(string); ok {
			if top.keys[key] {
				return bad("", "%s: duplicate key %q (offset %d)", ManifestFile, key, offset)
			}
			top.keys[key], top.wantKey = true, false
			return nil
		}
	}
	switch tok {
	case json.Delim('{'), json.Delim('['):
		if len(*stack) >= maxDepth {
			return bad("", "%s: nesting deeper than %d", ManifestFile, maxDepth)
		}
		*stack = append(*stack, &level{object: tok == json.Delim('{'), wantKey: true, keys: map[string]bool{}})
		return nil
	case json.Delim('}'), json.Delim(']'):
		*stack = (*stack)[:len(*stack)-1]
	default:
		if n, ok := tok.(json.Number); ok {
			if _, err := strconv.ParseFloat(string(n), 64); err != nil {
				return bad("", "%s: number %.40s is beyond the float64 range", ManifestFile, n)
			}
		}
	}
	if n := len(*stack); n > 0 && (*stack)[n-1].object {
		(*stack)[n-1].wantKey = true // a value ended: a key or the end comes next
	}
	return nil
}

// decodeManifest validates data (which passed checkJSON) against the manifest schema and
// decodes it into m.
func decodeManifest(data []byte, m *Manifest) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return bad("", "%s: %v", ManifestFile, err)
	}
	inst = canonical(inst)
	if err := LoadSpec().schema.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return bad("", "%s: %s", ManifestFile, firstLeaf(ve).Error())
		}
		return bad("", "%s: %v", ManifestFile, err)
	}
	canon, err := json.Marshal(inst)
	if err == nil {
		err = json.Unmarshal(canon, m)
	}
	if err != nil {
		return bad("", "%s: %v", ManifestFile, err)
	}
	return nil
}

// canonical replaces every number with a fraction or an exponent by the shortest literal
// of its float64 value, as Python reads it. The schema library turns number literals into
// big.Rat: 1e-99999 would cost it a 10^99999 denominator and 1e-9999999 makes it panic;
// and 3.0 becomes 3, which an integer field of the manifest can take. Integer literals
// stay exact (checkJSON bounds them to the float64 range); nesting is at most json_depth.
func canonical(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = canonical(e)
		}
	case []any:
		for i, e := range x {
			x[i] = canonical(e)
		}
	case json.Number:
		if strings.ContainsAny(string(x), ".eE") {
			f, _ := strconv.ParseFloat(string(x), 64)
			return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
		}
	}
	return v
}

// firstLeaf is the first most specific cause of a schema refusal, e.g. "at
// '/models/0/thresholds': missing property 'score'": one line instead of the tree.
func firstLeaf(ve *jsonschema.ValidationError) *jsonschema.ValidationError {
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	return ve
}

// named sets the check of an *engine.Error that lacks one; any other error becomes an
// internal one of that check.
func named(check string, err error) error {
	var ee *engine.Error
	if !errors.As(err, &ee) {
		return &engine.Error{Code: engine.CodeInternal, Op: "load bundle", Check: check, Msg: err.Error(), Err: err}
	}
	if ee.Check == "" {
		ee.Check = check
	}
	return err
}
