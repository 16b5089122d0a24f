package signing

import (
	"crypto/ecdsa"
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
	"os"
	"slices"
	"strings"
)

// The model-signing format this package accepts.
const (
	PayloadType   = "application/vnd.in-toto+json"
	StatementType = "https://in-toto.io/Statement/v1"
	PredicateType = "https://model_signing/signature/v1.0"
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
	id  string
	key *ecdsa.PublicKey
}

// LoadKeyRing reads one or more concatenated PEM public keys (P-256, P-384 or P-521).
func LoadKeyRing(path string) (*KeyRing, error) {
	data, err := os.ReadFile(path)
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
			return nil, fmt.Errorf("trusted keys %s: key %d is not an ECDSA key", path, n)
		}
		ring.keys = append(ring.keys, trusted{id: keyID(key), key: key})
	}
	if len(ring.keys) == 0 {
		return nil, fmt.Errorf("trusted keys %s: no PEM public key in the file", path)
	}
	return ring, nil
}

// keyID re-encodes the key so the id does not depend on how its PEM was written.
func keyID(key *ecdsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil { // parsed from PKIX a moment ago: cannot fail
		panic(err)
	}
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
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
		Resources []resource `json:"resources"`
	} `json:"predicate"`
}

type resource struct {
	Algorithm string `json:"algorithm"`
	Digest    string `json:"digest"`
	Name      string `json:"name"`
}

// Verify checks model.sig (sig) over files (every file of the bundle but model.sig, by slash
// path) and returns the id of the trusted key that signed it. It matches bundle.Verifier.
func (r *KeyRing) Verify(sig []byte, files map[string][]byte) (string, error) {
	if len(sig) == 0 {
		return "", refuse(Unsigned, "model.sig is missing or empty")
	}
	payload, sigs, err := envelope(sig)
	if err != nil {
		return "", err
	}
	id, err := r.signer(payload, sigs)
	if err != nil {
		return "", err
	}
	var st statement
	if err := json.Unmarshal(payload, &st); err != nil {
		return "", refuse(Malformed, "the signed statement is not JSON: %v", err)
	}
	if st.Type != StatementType || st.PredicateType != PredicateType {
		return "", refuse(Malformed, "statement %q with predicate %q, want %q with %q",
			st.Type, st.PredicateType, StatementType, PredicateType)
	}
	if err := checkFiles(st, files); err != nil {
		return "", err
	}
	return id, nil
}

func envelope(sig []byte) ([]byte, [][]byte, error) {
	var b sigstoreBundle
	if err := json.Unmarshal(sig, &b); err != nil {
		return nil, nil, refuse(Malformed, "model.sig is not a Sigstore bundle (JSON): %v", err)
	}
	if b.DSSE == nil {
		return nil, nil, refuse(Malformed, "model.sig has no dsseEnvelope")
	}
	if b.DSSE.PayloadType != PayloadType {
		return nil, nil, refuse(Malformed, "payloadType %q, want %q", b.DSSE.PayloadType, PayloadType)
	}
	payload, err := base64.StdEncoding.DecodeString(b.DSSE.Payload)
	if err != nil {
		return nil, nil, refuse(Malformed, "payload is not base64: %v", err)
	}
	var sigs [][]byte
	for i, s := range b.DSSE.Signatures {
		raw, err := base64.StdEncoding.DecodeString(s.Sig)
		if err != nil {
			return nil, nil, refuse(Malformed, "signature %d is not base64: %v", i, err)
		}
		sigs = append(sigs, raw)
	}
	if len(sigs) == 0 {
		return nil, nil, refuse(Malformed, "the envelope holds no signature")
	}
	return payload, sigs, nil
}

// pae is DSSE's pre-authentication encoding, the bytes actually signed.
func pae(payloadType string, body []byte) []byte {
	return fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(body), body)
}

func (r *KeyRing) signer(payload []byte, sigs [][]byte) (string, error) {
	msg := pae(PayloadType, payload)
	for _, k := range r.keys {
		digest := curveHash(k.key)
		digest.Write(msg)
		sum := digest.Sum(nil)
		for _, s := range sigs {
			if ecdsa.VerifyASN1(k.key, sum, s) {
				return k.id, nil
			}
		}
	}
	return "", refuse(UntrustedKey, "model.sig is not signed by a trusted key (trusted: %s)",
		strings.Join(r.IDs(), ", "))
}

// curveHash is model-signing's choice: the hash whose size matches the curve.
func curveHash(key *ecdsa.PublicKey) hash.Hash {
	switch key.Curve.Params().BitSize {
	case 384:
		return sha512.New384()
	case 521:
		return sha512.New()
	default:
		return sha256.New()
	}
}

func checkFiles(st statement, files map[string][]byte) error {
	signed := map[string]string{}
	for _, res := range st.Predicate.Resources {
		if res.Algorithm != "sha256" {
			return refuse(Malformed, "resource %q hashed with %q, want sha256", res.Name, res.Algorithm)
		}
		if _, dup := signed[res.Name]; dup {
			return refuse(Malformed, "resource %q listed twice", res.Name)
		}
		signed[res.Name] = res.Digest
	}
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
	return checkSubject(st, signed)
}

// checkSubject recomputes model-signing's subject digest: sha256 over the raw digests of the
// resources sorted by path (Python sorts PurePath objects, i.e. component by component).
func checkSubject(st statement, signed map[string]string) error {
	names := sortedNames(signed)
	slices.SortFunc(names, func(a, b string) int {
		return slices.Compare(strings.Split(a, "/"), strings.Split(b, "/"))
	})
	h := sha256.New()
	for _, name := range names {
		raw, err := hex.DecodeString(signed[name])
		if err != nil {
			return refuse(Malformed, "resource %q digest is not hex", name)
		}
		h.Write(raw)
	}
	if len(st.Subject) != 1 || st.Subject[0].Digest["sha256"] != hex.EncodeToString(h.Sum(nil)) {
		return refuse(Digest, "the statement's subject digest does not match its resources")
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

