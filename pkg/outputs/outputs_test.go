package outputs

import "testing"

func TestFind(t *testing.T) {
	fn := Output{Key: "EnforcerFunctionName", Value: "EcrBaseline-Fn-1", Description: DescriptionPrefix + "the enforcer Lambda"}
	other := Output{Key: "AppFunctionName", Value: "app-fn", Description: "the app"}
	second := Output{Key: "ProdFunctionName", Value: "EcrBaseline-Fn-2", Description: DescriptionPrefix + "the enforcer Lambda"}
	for _, tt := range []struct {
		name    string
		outs    []Output
		want    string
		wantErr string
	}{
		{"one enforcer among other outputs", []Output{other, fn}, "EcrBaseline-Fn-1", ""},
		{"another construct's output of the same name", []Output{other}, "",
			"stack S has no ecr-baseline FunctionName output: is the construct deployed in it?"},
		{"no outputs", nil, "", "stack S has no ecr-baseline FunctionName output: is the construct deployed in it?"},
		{"two enforcers", []Output{second, fn}, "",
			"stack S holds more than one enforcer (EnforcerFunctionName, ProdFunctionName): name the function instead"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Find("S", tt.outs, FunctionName)
			if got != tt.want || (err == nil) != (tt.wantErr == "") || (err != nil && err.Error() != tt.wantErr) {
				t.Errorf("Find = %q, %v; want %q, %q", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
