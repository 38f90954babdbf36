package policydiff_test

import (
	"fmt"

	"github.com/ecr-baseline/ecr-baseline/pkg/policydiff"
)

// A replace-mode write over a team's policy: the team's statement goes,
// the baseline's come, and one statement both share by Sid changes.
func ExampleCompare() {
	before := `{"Version":"2012-10-17","Statement":[
		{"Sid":"TeamPush","Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"ecr:PutImage"},
		{"Sid":"BaselineDeny","Effect":"Deny","Principal":"*","Action":"ecr:DeleteRepository"}]}`
	after := `{"Version":"2012-10-17","Statement":[
		{"Sid":"BaselineDeny","Effect":"Deny","Principal":"*","Action":["ecr:DeleteRepository","ecr:DeleteLifecyclePolicy"]},
		{"Sid":"BaselinePull","Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"ecr:BatchGetImage"}]}`
	d, err := policydiff.Compare(before, after)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d)
	// Output: added BaselinePull; removed TeamPush; changed BaselineDeny
}
