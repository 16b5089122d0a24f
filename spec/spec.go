package spec

import _ "embed"

// ManifestSchema is bundle/manifest.schema.json (JSON Schema draft 2020-12).
//
//go:embed bundle/manifest.schema.json
var ManifestSchema []byte

// BundleChecks is bundle/checks.json: the ordered semantic checks and the read limits.
//
//go:embed bundle/checks.json
var BundleChecks []byte
