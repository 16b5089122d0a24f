package signing_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/signing"
)

// fixture reads testdata (written by testdata/make_fixture.py): the signed files, model.sig
// and the key id Python printed for the trusted key.
func fixture(t *testing.T) (map[string][]byte, []byte, map[string]string) {
	t.Helper()
	files := map[string][]byte{}
	root := filepath.Join("testdata", "bundle")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "model.sig" {
			return err
		}
		data, err := os.ReadFile(path)
		rel, _ := filepath.Rel(root, path)
		files[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		t.Fatalf("fixture (regenerate: .venv/bin/python sidecar/signing/testdata/make_fixture.py): %v", err)
	}
	sig, err := os.ReadFile(filepath.Join(root, "model.sig"))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	raw, err := os.ReadFile(filepath.Join("testdata", "key_ids.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		name, id, _ := strings.Cut(line, " ")
		ids[name] = id
	}
	return files, sig, ids
}

func ring(t *testing.T, name string) *signing.KeyRing {
	t.Helper()
	r, err := signing.LoadKeyRing(filepath.Join("testdata", "keys", name+".pub"))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVerifyValid(t *testing.T) {
	files, sig, ids := fixture(t)
	r := ring(t, "trusted")
	if got := r.IDs(); len(got) != 1 || got[0] != ids["trusted"] {
		t.Fatalf("IDs = %v, Python's id is %s", got, ids["trusted"])
	}
	id, err := r.Verify(sig, files)
	if err != nil || id != ids["trusted"] {
		t.Fatalf("Verify = %q, %v; want %s", id, err, ids["trusted"])
	}
}

// rewrap replaces the envelope's payloadType (the signature then no longer covers it).
func rewrap(t *testing.T, sig []byte, payloadType string) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(sig, &doc); err != nil {
		t.Fatal(err)
	}
	doc["dsseEnvelope"].(map[string]any)["payloadType"] = payloadType
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerifyRefusals(t *testing.T) {
	files, sig, _ := fixture(t)
	with := func(edit func(map[string][]byte)) map[string][]byte {
		c := maps.Clone(files)
		edit(c)
		return c
	}
	flipped := []byte(base64.StdEncoding.EncodeToString([]byte("x")))
	cases := []struct {
		name   string
		key    string
		sig    []byte
		files  map[string][]byte
		reason signing.Reason
		msg    string
	}{
		{"unsigned", "trusted", nil, files, signing.Unsigned, "model.sig is missing"},
		{"garbled", "trusted", []byte("not json"), files, signing.Malformed, "not a Sigstore bundle"},
		{"garbled base64", "trusted", flipped, files, signing.Malformed, "not a Sigstore bundle"},
		{"payload type", "trusted", rewrap(t, sig, "text/plain"), files, signing.Malformed, `payloadType "text/plain"`},
		{"untrusted key", "other", sig, files, signing.UntrustedKey, "not signed by a trusted key"},
		{"tampered", "trusted", sig, with(func(m map[string][]byte) { m["golden.json"] = []byte("[1]\n") }), signing.Digest, "golden.json changed since signing"},
		{"extra", "trusted", sig, with(func(m map[string][]byte) { m["extra.txt"] = nil }), signing.Digest, "extra.txt was not signed"},
		{"missing", "trusted", sig, with(func(m map[string][]byte) { delete(m, "models/a.onnx") }), signing.Digest, "models/a.onnx was signed but is missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ring(t, c.key).Verify(c.sig, c.files)
			var e *signing.Error
			if !errors.As(err, &e) || e.Reason != c.reason || !strings.Contains(e.Msg, c.msg) {
				t.Fatalf("Verify error = %v; want reason %s with %q", err, c.reason, c.msg)
			}
		})
	}
}

func TestLoadKeyRingRefusals(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	priv, err := os.ReadFile(filepath.Join("testdata", "keys", "trusted.key"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, path, msg string }{
		{"missing", filepath.Join(dir, "nope.pub"), "no such file"},
		{"empty", write("empty.pub", ""), "no PEM public key"},
		{"private key", write("priv.pub", string(priv)), `not a PUBLIC KEY`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := signing.LoadKeyRing(c.path); err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("LoadKeyRing error = %v; want %q", err, c.msg)
			}
		})
	}
}

func TestKeyRingSeveralKeys(t *testing.T) {
	files, sig, ids := fixture(t)
	var both []byte
	for _, name := range []string{"other", "trusted"} {
		data, err := os.ReadFile(filepath.Join("testdata", "keys", name+".pub"))
		if err != nil {
			t.Fatal(err)
		}
		both = append(both, data...)
	}
	path := filepath.Join(t.TempDir(), "both.pub")
	if err := os.WriteFile(path, both, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := signing.LoadKeyRing(path)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := r.Verify(sig, files); err != nil || id != ids["trusted"] {
		t.Fatalf("Verify = %q, %v; want %s", id, err, ids["trusted"])
	}
}
