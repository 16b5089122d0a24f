package signing_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

// resign edits the signed statement and signs it again with the fixture's trusted key, as a
// signer holding the key could.
func resign(t *testing.T, sig []byte, edit func(st map[string]any)) []byte {
	t.Helper()
	block, _ := pem.Decode(readTestdata(t, "keys", "trusted.key"))
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(sig, &doc); err != nil {
		t.Fatal(err)
	}
	env := doc["dsseEnvelope"].(map[string]any)
	payload, _ := base64.StdEncoding.DecodeString(env["payload"].(string))
	var st map[string]any
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	edit(st)
	if payload, err = json.Marshal(st); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len(signing.PayloadType), signing.PayloadType, len(payload), payload))
	raw, err := ecdsa.SignASN1(rand.Reader, parsed.(*ecdsa.PrivateKey), sum[:])
	if err != nil {
		t.Fatal(err)
	}
	env["payload"] = base64.StdEncoding.EncodeToString(payload)
	env["signatures"] = []any{map[string]any{"sig": base64.StdEncoding.EncodeToString(raw), "keyid": ""}}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readTestdata(t *testing.T, parts ...string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(append([]string{"testdata"}, parts...)...))
	if err != nil {
		t.Fatalf("%v (regenerate: .venv/bin/python sidecar/signing/testdata/make_fixture.py)", err)
	}
	return data
}

// editEnvelope applies edit to the parsed model.sig and returns it re-encoded.
func editEnvelope(t *testing.T, sig []byte, edit func(doc map[string]any)) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(sig, &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc)
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerifySignatureRefusals(t *testing.T) {
	files, sig, _ := fixture(t)
	env := func(doc map[string]any) map[string]any { return doc["dsseEnvelope"].(map[string]any) }
	otherBytes := resign(t, sig, func(st map[string]any) {}) // a valid signature, of other bytes
	cases := []struct {
		name   string
		sig    []byte
		reason signing.Reason
		msg    string
	}{
		{"truncated", sig[:len(sig)/2], signing.Malformed, "not a Sigstore bundle"},
		{"empty", []byte{}, signing.Malformed, "not a Sigstore bundle"},
		{"media type", editEnvelope(t, sig, func(d map[string]any) { d["mediaType"] = "application/json" }),
			signing.Malformed, `mediaType "application/json"`},
		{"no public key", editEnvelope(t, sig, func(d map[string]any) { delete(d["verificationMaterial"].(map[string]any), "publicKey") }),
			signing.Malformed, "not signed with a key"},
		{"two signatures", editEnvelope(t, sig, func(d map[string]any) {
			env(d)["signatures"] = append(env(d)["signatures"].([]any), env(d)["signatures"].([]any)[0])
		}), signing.Malformed, "2 signatures, not 1"},
		{"signature of other bytes", editEnvelope(t, sig, func(d map[string]any) {
			var o map[string]any
			_ = json.Unmarshal(otherBytes, &o)
			env(d)["signatures"] = env(o)["signatures"]
		}), signing.BadSignature, "does not verify with trusted key sha256:"},
		{"changed payload", editEnvelope(t, sig, func(d map[string]any) {
			p, _ := base64.StdEncoding.DecodeString(env(d)["payload"].(string))
			env(d)["payload"] = base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(p), "golden.json", "golden.jsox", 1)))
		}), signing.BadSignature, "the signature or the signed statement was changed"},
		{"predicate type", resign(t, sig, func(st map[string]any) { st["predicateType"] = "https://example.com/x" }),
			signing.Malformed, `predicate "https://example.com/x"`},
		{"files left unsigned", resign(t, sig, func(st map[string]any) {
			st["predicate"].(map[string]any)["serialization"].(map[string]any)["ignore_paths"] = []any{"model.sig", "golden.json"}
		}), signing.Malformed, "ignoring only model.sig"},
		{"symlinks allowed", resign(t, sig, func(st map[string]any) {
			st["predicate"].(map[string]any)["serialization"].(map[string]any)["allow_symlinks"] = true
		}), signing.Malformed, "without symlinks"},
		{"subject digest", resign(t, sig, func(st map[string]any) {
			st["subject"].([]any)[0].(map[string]any)["digest"] = map[string]any{"sha256": strings.Repeat("0", 64)}
		}), signing.Malformed, "subject digest does not match"},
	}
	r := ring(t, "trusted")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := r.Verify(c.sig, files)
			var e *signing.Error
			if !errors.As(err, &e) || e.Reason != c.reason || !strings.Contains(e.Msg, c.msg) {
				t.Fatalf("Verify error = %v; want reason %s with %q", err, c.reason, c.msg)
			}
		})
	}
	if _, err := r.Verify(resign(t, sig, func(map[string]any) {}), files); err != nil {
		t.Fatalf("resign without edit must verify (the helper itself is right): %v", err)
	}
}

func TestLoadKeyRingKeyTypes(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, pub any) string {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	fifo := filepath.Join(dir, "fifo.pub")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := signing.LoadKeyRing(write("p384.pub", &p384.PublicKey)); err != nil {
		t.Fatalf("P-384: %v", err)
	}
	cases := []struct{ name, path, msg string }{
		{"P-224", write("p224.pub", &p224.PublicKey), "is on P-224"},
		{"RSA", write("rsa.pub", &rsaKey.PublicKey), "is a *rsa.PublicKey, not an ECDSA key"},
		{"Ed25519", write("ed.pub", edPub), "is a ed25519.PublicKey, not an ECDSA key"},
		{"FIFO", fifo, "fifo.pub: not a regular file"},
		{"directory", dir, "not a regular file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := signing.LoadKeyRing(c.path); err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("LoadKeyRing error = %v; want %q", err, c.msg)
			}
		})
	}
}
