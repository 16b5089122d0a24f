// Package monitor keeps a served model's online accuracy and live drift (placeholder doc,
// replaced below).
package monitor
