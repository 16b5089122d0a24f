// Package signing verifies OpenSSF model-signing signatures (model.sig) of dwcp-ml bundles
// with trusted ECDSA public keys, in pure Go on the standard library (docs/signing.md).
//
// model.sig is a Sigstore bundle (media type application/vnd.dev.sigstore.bundle.v0.3+json)
// whose DSSE envelope carries an in-toto statement (payload type
// application/vnd.in-toto+json, predicate type https://model_signing/signature/v1.0), as
// model-signing 1.1.1's key signer writes it. (*KeyRing).Verify, a bundle.Verifier, takes
// the content of model.sig and every regular file of the bundle but model.sig (map from
// slash path to content; it hashes them itself) and, in the order Python's
// dwcp_ml.export.signing checks them: parses the envelope (Malformed), picks the trusted keys
// named by the bundle's key hint, hex sha256 of the key's PEM (none: UntrustedKey), verifies
// the ECDSA signature over PAE(payloadType, payload) (BadSignature), checks the statement
// (type, predicate type, one subject, serialization files/sha256/no symlinks ignoring only
// model.sig, subject digest = sha256 over the resources' raw digests in listed order:
// Malformed), and requires the resources to be exactly the given files with equal sha256
// (Digest). Every refusal is an *Error with a Reason; messages name bundle-relative files.
//
// Why not sigstore-go (v1.3.0, in go.mod): docs/signing.md gives the measurement. Its
// artifact policy also checks one digest, not model-signing's per-file resource list, which
// is the part that matters here; a key-only DSSE check is ~150 lines of standard library.
//
// A key id is "sha256:" + hex sha256 of the DER SubjectPublicKeyInfo (re-encoded, so it
// does not depend on how the PEM was written), as dwcp-ml keygen and sign print it.
package signing
