// Package patterntest checks the construct's EventBridge rule patterns —
// a single account's, and an organisation hub's and member stack's — against
// every events/ sample, also moved to a member account and another region,
// with quamina, a Go implementation of EventBridge pattern matching (moto
// does not implement TestEventPattern).
//
// It is a module of its own so that the main module needs no replace
// directive: the module proxy serves quamina only under
// github.com/timbray/quamina, not under the path its go.mod declares,
// quamina.net/go/quamina, and a replace in the main module would block
// `go install …@version` and be ignored by every module that requires it.
// `make test` runs it.
package patterntest
