// Package policies embeds the default baseline policy that ships with the
// project, so the demo and the CDK app use the file in this folder.
package policies

import _ "embed"

// Baseline is policies/baseline.json: the default baseline template.
//
//go:embed baseline.json
var Baseline string
