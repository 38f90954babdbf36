// Package policy parses, validates, compares and renders Amazon ECR
// repository policies.
//
// ECR reformats the policy text it stores (indentation, key order, a lone
// action turned into a list), so two policies are compared through their
// canonical form, never as strings.
package policy
