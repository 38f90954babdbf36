// Package events embeds the real-shaped EventBridge samples in this
// folder, as policies embeds the default baseline, so tests in any package
// and the demo read them without looking for the module root.
package events

import "embed"

// FS holds every events/*.json sample.
//
//go:embed *.json
var FS embed.FS
