// Package outputs names the stack outputs of the ecr-baseline construct
// and finds them among a deployed stack's outputs. The construct writes
// them (infra/ecrbaseline) and the CLI's --stack reads them, so the names
// are kept here, once.
package outputs

import (
	"fmt"
	"slices"
	"strings"
)

// DescriptionPrefix starts the description of every output the construct
// adds: a stack's other outputs (another construct's "FunctionName") are
// not taken for the enforcer's.
const DescriptionPrefix = "ecr-baseline: "

// FunctionName ends the name of the output holding the enforcer Lambda's
// name: the construct prefixes its outputs with its id
// (EnforcerFunctionName for id "Enforcer").
const FunctionName = "FunctionName"

// Output is one output of a deployed stack.
type Output struct {
	Key, Value, Description string
}

// Find returns the value of the one ecr-baseline output whose name ends in
// name. A stack with none, or with two enforcers, is an error that says
// what to do instead.
func Find(stack string, outs []Output, name string) (string, error) {
	var keys, values []string
	for _, o := range outs {
		if strings.HasSuffix(o.Key, name) && strings.HasPrefix(o.Description, DescriptionPrefix) {
			keys, values = append(keys, o.Key), append(values, o.Value)
		}
	}
	switch len(keys) {
	case 0:
		return "", fmt.Errorf("stack %s has no ecr-baseline %s output: is the construct deployed in it?", stack, name)
	case 1:
		return values[0], nil
	}
	slices.Sort(keys)
	return "", fmt.Errorf("stack %s holds more than one enforcer (%s): name the function instead", stack, strings.Join(keys, ", "))
}
