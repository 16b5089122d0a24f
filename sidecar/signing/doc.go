// Package signing verifies OpenSSF model-signing signatures (model.sig) of dwcp-ml bundles
// with trusted ECDSA public keys, in pure Go (docs/signing.md).
//
// model.sig is a Sigstore bundle (v0.3 JSON) whose DSSE envelope carries an in-toto
// statement (payload type application/vnd.in-toto+json, predicate type
// https://model_signing/signature/v1.0). Verify checks the ECDSA signature over the DSSE
// pre-authentication encoding with each trusted key, then requires the predicate's resources
// to list exactly the given files with equal sha256 digests, and the subject digest to be
// model-signing's: sha256 over the resources' raw digests in path order.
//
// Why not sigstore-go (v1.3.0, in go.mod): its verifier is built around a trusted root and
// transparency-log or timestamp evidence, and its artifact policy checks one digest, not
// model-signing's per-file resource list, which is the part that matters here. A key-only
// DSSE check is ~100 lines of standard library that are easy to review; the time box for
// making sigstore-go accept a keyed bundle without a log ran out first.
//
// A key id is "sha256:" + hex sha256 of the DER SubjectPublicKeyInfo, as the Python side
// (dwcp_ml.export.signing) prints it.
package signing
