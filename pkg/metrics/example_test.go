package metrics

import (
	"os"
	"time"

	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
)

func ExampleEmitter_Emit() {
	e := New(os.Stdout, "ecr-baseline-enforcer")
	e.now = func() time.Time { return time.UnixMilli(1795000000000) }
	_ = e.Emit(Invocation{Entry: "event", Tally: enforcer.Tally{Applied: 1}, Duration: 42 * time.Millisecond})
	// Output:
	// {"_aws":{"Timestamp":1795000000000,"CloudWatchMetrics":[{"Namespace":"EcrBaseline","Dimensions":[["FunctionName"]],"Metrics":[{"Name":"Applied","Unit":"Count"},{"Name":"Unchanged","Unit":"Count"},{"Name":"Skipped","Unit":"Count"},{"Name":"Exempt","Unit":"Count"},{"Name":"Failed","Unit":"Count"},{"Name":"WouldApply","Unit":"Count"},{"Name":"ExemptedByTag","Unit":"Count"},{"Name":"Retried","Unit":"Count"},{"Name":"Duration","Unit":"Milliseconds"}]}]},"FunctionName":"ecr-baseline-enforcer","Entry":"event","Applied":1,"Unchanged":0,"Skipped":0,"Exempt":0,"Failed":0,"WouldApply":0,"ExemptedByTag":0,"Retried":0,"Duration":42}
}
