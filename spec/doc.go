// Package spec embeds the specification files that Python and Go both read, so a rule
// needed in both languages is written once: the bundle manifest's JSON Schema
// (bundle/manifest.schema.json) and the ordered list of semantic checks
// (bundle/checks.json). Python reads the same files as the package dwcp_ml.spec.
package spec
