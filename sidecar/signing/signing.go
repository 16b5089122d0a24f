package signing

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"
)

// The model-signing format this package accepts.
const (
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	PayloadType     = "application/vnd.in-toto+json"
	StatementType   = "https://in-toto.io/Statement/v1"
	PredicateType   = "https://model_signing/signature/v1.0"
)

// Reason says why a signature was refused; callers branch on it.
type Reason string

// The reasons of *Error (the same names as Python's SignatureError reasons).
const (
	Unsigned     Reason = "unsigned"
	Malformed    Reason = "malformed"
	UntrustedKey Reason = "untrusted_key"
	BadSignature Reason = "bad_signature"
	Digest       Reason = "digest"
)

// Error is a refused signature. Messages name files relative to the bundle only.
type Error struct {
	Reason Reason
	Msg    string
}

func (e *Error) Error() string { return fmt.Sprintf("signature %s: %s", e.Reason, e.Msg) }

func refuse(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Msg: fmt.Sprintf(format, args...)}
}

// KeyRing is a set of trusted ECDSA public keys.
type KeyRing struct {
	keys []trusted
}

type trusted struct {
	id   string
	hint string // model-signing's key hint: hex sha256 of the SubjectPublicKeyInfo PEM
	key  *ecdsa.PublicKey
}

// KeyFileBytes caps a trusted-keys file; a PEM public key is about 180 bytes.
const KeyFileBytes = 1 << 20

// LoadKeyRing reads one or more concatenated PEM public keys: ECDSA P-256, P-384 or P-521,
// the curves model-signing's key signer supports (it has no Ed25519 or RSA signer).
func LoadKeyRing(path string) (*KeyRing, error) {
	data, err := readKeyFile(path)
	if err != nil {
		return nil, fmt.Errorf("trusted keys: %w", err)
	}
	ring := &KeyRing{}
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("trusted keys %s: block %d is %q, not a PUBLIC KEY", path, n, block.Type)
		}
		parsed, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("trusted keys %s: key %d: %w", path, n, err)
		}
		key, ok := parsed.(*ecdsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("trusted keys %s: key %d is a %T, not an ECDSA key", path, n, parsed)
		}
		if curveHash(key) == nil {
			return nil, fmt.Errorf("trusted keys %s: key %d is on %s; model-signing signs with P-256, P-384 or P-521",
				path, n, key.Curve.Params().Name)
		}
		ring.keys = append(ring.keys, newTrusted(key))
	}
	if len(ring.keys) == 0 {
		return nil, fmt.Errorf("trusted keys %s: no PEM public key in the file", path)
	}
	return ring, nil
}

// readKeyFile reads the operator's file without blocking on a FIFO, with a size cap.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, KeyFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > KeyFileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes, not a key file", path, KeyFileBytes)
	}
	return data, nil
}

// newTrusted re-encodes the key so that neither the id nor the hint depends on how its PEM
// was written (Python re-encodes the same way).
func newTrusted(key *ecdsa.PublicKey) trusted {
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil { // parsed from PKIX a moment ago: cannot fail
		panic(err)
	}
	id := sha256.Sum256(der)
	hint := sha256.Sum256(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	return trusted{id: "sha256:" + hex.EncodeToString(id[:]), hint: hex.EncodeToString(hint[:]), key: key}
}

// IDs returns the key ids in file order.
func (r *KeyRing) IDs() []string {
	ids := make([]string, len(r.keys))
	for i, k := range r.keys {
		ids[i] = k.id
	}
	return ids
}

type sigstoreBundle struct {
	MediaType            string `json:"mediaType"`
	VerificationMaterial struct {
		PublicKey *struct {
			Hint string `json:"hint"`
		} `json:"publicKey"`
	} `json:"verificationMaterial"`
	DSSE *struct {
		Payload     string `json:"payload"`
		PayloadType string `json:"payloadType"`
		Signatures  []struct {
			Sig string `json:"sig"`
		} `json:"signatures"`
	} `json:"dsseEnvelope"`
}

type statement struct {
	Type    string `json:"_type"`
	Subject []struct {
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
	PredicateType string `json:"predicateType"`
	Predicate     struct {
		Serialization map[string]any `json:"serialization"`
		Resources     []resource     `json:"resources"`
	} `json:"predicate"`
}

type resource struct {
	Algorithm string `json:"algorithm"`
	Digest    string `json:"digest"`
	Name      string `json:"name"`
}

// Verify checks model.sig (sig, nil if the bundle has none) over files (every file of the bundle but model.sig, by slash
// path) and returns the id of the trusted key that signed it. It matches bundle.Verifier.
// The steps and their order are Python's (dwcp_ml.export.signing.verify_signature):
// envelope structure, key hint, DSSE signature, statement, files.
func (r *KeyRing) Verify(sig []byte, files map[string][]byte) (string, error) {
	if sig == nil { // an empty model.sig is malformed, as in Python
		return "", refuse(Unsigned, "model.sig is missing")
	}
	env, err := envelope(sig)
	if err != nil {
		return "", err
	}
	id, err := r.signer(env)
	if err != nil {
		return "", err
	}
	signed, err := resources(env.payload)
	if err != nil {
		return "", err
	}
	if err := checkFiles(signed, files); err != nil {
		return "", err
	}
	return id, nil
}

// dsse is the part of model.sig that Verify uses.
type dsse struct {
	hint    string // "" when the signature names no key: every trusted key is tried
	payload []byte
	sig     []byte
}

func envelope(sig []byte) (dsse, error) {
	var b sigstoreBundle
	if err := json.Unmarshal(sig, &b); err != nil {
		return dsse{}, refuse(Malformed, "model.sig is not a Sigstore bundle (JSON): %v", err)
	}
	if b.MediaType != BundleMediaType {
		return dsse{}, refuse(Malformed, "mediaType %.80q, want %q", b.MediaType, BundleMediaType)
	}
	if b.VerificationMaterial.PublicKey == nil {
		return dsse{}, refuse(Malformed, "model.sig has no verificationMaterial.publicKey: not signed with a key")
	}
	if b.DSSE == nil {
		return dsse{}, refuse(Malformed, "model.sig has no dsseEnvelope")
	}
	if b.DSSE.PayloadType != PayloadType {
		return dsse{}, refuse(Malformed, "payloadType %.80q, want %q", b.DSSE.PayloadType, PayloadType)
	}
	// A Sigstore bundle's DSSE envelope holds exactly one signature (sigstore-go's rule too).
	if len(b.DSSE.Signatures) != 1 {
		return dsse{}, refuse(Malformed, "the envelope holds %d signatures, not 1", len(b.DSSE.Signatures))
	}
	raw, err := base64.StdEncoding.DecodeString(b.DSSE.Signatures[0].Sig)
	if err != nil {
		return dsse{}, refuse(Malformed, "the signature is not base64: %v", err)
	}
	payload, err := base64.StdEncoding.DecodeString(b.DSSE.Payload)
	if err != nil {
		return dsse{}, refuse(Malformed, "payload is not base64: %v", err)
	}
	return dsse{hint: b.VerificationMaterial.PublicKey.Hint, payload: payload, sig: raw}, nil
}

// pae is DSSE's pre-authentication encoding, the bytes actually signed.
func pae(payloadType string, body []byte) []byte {
	return fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(body), body)
}

// signer is the id of the trusted key (among those the hint names) whose ECDSA signature
// over PAE(payloadType, payload) verifies. The hint is unsigned: it only picks keys.
func (r *KeyRing) signer(env dsse) (string, error) {
	var tried []string
	msg := pae(PayloadType, env.payload)
	for _, k := range r.keys {
		if env.hint != "" && env.hint != k.hint {
			continue
		}
		tried = append(tried, k.id)
		digest := curveHash(k.key)
		digest.Write(msg)
		if ecdsa.VerifyASN1(k.key, digest.Sum(nil), env.sig) {
			return k.id, nil
		}
	}
	if len(tried) == 0 {
		return "", refuse(UntrustedKey, "model.sig is not signed by a trusted key (trusted: %s)",
			strings.Join(r.IDs(), ", "))
	}
	return "", refuse(BadSignature, "the signature does not verify with trusted key %s: the signature or the "+
		"signed statement was changed", strings.Join(tried, ", "))
}

// curveHash is model-signing's choice (sign_ec_key.get_ec_key_hash): the hash whose size
// matches the curve; nil for a curve model-signing does not sign with.
func curveHash(key *ecdsa.PublicKey) hash.Hash {
	switch key.Curve {
	case elliptic.P256():
		return sha256.New()
	case elliptic.P384():
		return sha512.New384()
	case elliptic.P521():
		return sha512.New()
	}
	return nil
}

// resources returns the signed files (name -> sha256 hex) of the authenticated statement,
// after checking it is model-signing's v1.0 predicate with the one serialization dwcp-ml
// signs and that its subject digest is model-signing's root digest: sha256 over the
// resources' raw digests in listed order (dsse_payload_to_manifest; the signer lists them
// sorted by path component).
func resources(payload []byte) (map[string]string, error) {
	var st statement
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, refuse(Malformed, "the signed statement is not JSON: %v", err)
	}
	if st.Type != StatementType || st.PredicateType != PredicateType {
		return nil, refuse(Malformed, "statement %.80q with predicate %.80q, want %q with %q",
			st.Type, st.PredicateType, StatementType, PredicateType)
	}
	if len(st.Subject) != 1 {
		return nil, refuse(Malformed, "the statement has %d subjects, not 1", len(st.Subject))
	}
	if err := checkSerialization(st.Predicate.Serialization); err != nil {
		return nil, err
	}
	signed := map[string]string{}
	root := sha256.New()
	for _, res := range st.Predicate.Resources {
		raw, err := hex.DecodeString(res.Digest)
		if res.Algorithm != "sha256" || err != nil || len(raw) != sha256.Size {
			return nil, refuse(Malformed, "resource %.200q is not a sha256 digest", res.Name)
		}
		if _, dup := signed[res.Name]; dup {
			return nil, refuse(Malformed, "resource %.200q listed twice", res.Name)
		}
		signed[res.Name] = res.Digest
		root.Write(raw)
	}
	if st.Subject[0].Digest["sha256"] != hex.EncodeToString(root.Sum(nil)) {
		return nil, refuse(Malformed, "the statement's subject digest does not match its resources")
	}
	return signed, nil
}

// checkSerialization accepts only files/sha256/no symlinks ignoring nothing but model.sig:
// any other ignore list would leave files the signer never vouched for free to change.
func checkSerialization(s map[string]any) error {
	ok := s["method"] == "files" && s["hash_type"] == "sha256" && s["allow_symlinks"] == false
	if ignored, present := s["ignore_paths"]; present {
		list, isList := ignored.([]any)
		ok = ok && isList
		for _, p := range list {
			ok = ok && p == "model.sig"
		}
	}
	if !ok {
		text, _ := json.Marshal(s)
		return refuse(Malformed, "the signed serialization %.300s is not files/sha256 without symlinks "+
			"ignoring only model.sig", text)
	}
	return nil
}

// checkFiles requires files to be exactly the signed ones, with equal sha256 digests.
func checkFiles(signed map[string]string, files map[string][]byte) error {
	for _, name := range sortedNames(files) {
		want, ok := signed[name]
		if !ok {
			return refuse(Digest, "%s was not signed (added after signing)", name)
		}
		sum := sha256.Sum256(files[name])
		if hex.EncodeToString(sum[:]) != want {
			return refuse(Digest, "%s changed since signing", name)
		}
	}
	for _, name := range sortedNames(signed) {
		if _, ok := files[name]; !ok {
			return refuse(Digest, "%s was signed but is missing", name)
		}
	}
	return nil
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// As reports whether err is a refused signature and returns it.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
