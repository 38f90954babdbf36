package ecrbaseline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/infra/internal/cdktest"
	"github.com/ecr-baseline/ecr-baseline/pkg/metrics"
)

// dashboardBody returns the default dashboard's body, parsed, with every
// CloudFormation reference in it written as flatten writes it: the
// function's name as its logical ID, a queue's name as its logical ID
// followed by "QueueName", an alarm's ARN by "Arn".
func dashboardBody(t *testing.T, s *synthesized) map[string]any {
	t.Helper()
	d := s.json.Resource(t, "AWS::CloudWatch::Dashboard", cdktest.LogicalID(s.enforcer.Dashboard))
	var body map[string]any
	if err := json.Unmarshal([]byte(flatten(d["DashboardBody"])), &body); err != nil {
		t.Fatalf("dashboard body: %v", err)
	}
	return body
}

// metricKey names a metric as CloudWatch stores it, by namespace, name and
// dimensions: a graph of any other shows nothing.
func metricKey(namespace, name string, dims map[string]string) string {
	var pairs []string
	for k, v := range dims {
		pairs = append(pairs, k+"="+v)
	}
	sort.Strings(pairs)
	return fmt.Sprintf("%s/%s {%s}", namespace, name, strings.Join(pairs, ","))
}

// graphed is one line of a graph widget: its metric and statistic.
type graphed struct{ key, stat string }

// graphedMetrics returns the metrics each graph widget of body draws, by
// title, and what is wrong with the body as CloudWatch reads it: a graph
// with no metric, or a line that is not [namespace, name, dimension,
// value, ..., options].
func graphedMetrics(body map[string]any) (map[string][]graphed, []string) {
	byTitle := map[string][]graphed{}
	var problems []string
	widgets, _ := body["widgets"].([]any)
	for i, w := range widgets {
		widget, _ := w.(map[string]any)
		if widget["type"] != "metric" {
			continue
		}
		props, _ := widget["properties"].(map[string]any)
		title := fmt.Sprintf("widget %d %q", i, props["title"])
		lines, _ := props["metrics"].([]any)
		if len(lines) == 0 {
			problems = append(problems, title+" graphs no metric")
		}
		for _, l := range lines {
			line, _ := l.([]any)
			var opts map[string]any
			if n := len(line); n > 0 {
				if o, ok := line[n-1].(map[string]any); ok {
					opts, line = o, line[:n-1]
				}
			}
			if len(line) < 2 || len(line)%2 != 0 {
				problems = append(problems, fmt.Sprintf("%s: line %v is not [namespace, name, dimension, value, ...]", title, l))
				continue
			}
			dims := map[string]string{}
			for j := 2; j < len(line); j += 2 {
				dims[fmt.Sprint(line[j])] = fmt.Sprint(line[j+1])
			}
			byTitle[title] = append(byTitle[title], graphed{
				key:  metricKey(fmt.Sprint(line[0]), fmt.Sprint(line[1]), dims),
				stat: fmt.Sprint(opts["stat"]),
			})
		}
	}
	return byTitle, problems
}

// emitted returns the function's own metrics as pkg/metrics really writes
// them, for a function whose name is functionName: an EMF record is read
// back, and each metric its directive names must be a number in the
// record and each dimension a value in it, which is what CloudWatch needs
// to extract a metric from the log line.
func emitted(t *testing.T, functionName string) map[string]bool {
	t.Helper()
	var line bytes.Buffer
	if err := metrics.New(&line, "the-function").Emit(metrics.Invocation{Entry: "event"}); err != nil {
		t.Fatal(err)
	}
	var record map[string]any
	if err := json.Unmarshal(line.Bytes(), &record); err != nil {
		t.Fatalf("EMF record: %v\n%s", err, line.String())
	}
	var meta struct {
		CloudWatchMetrics []struct {
			Namespace  string
			Dimensions [][]string
			Metrics    []struct{ Name string }
		}
	}
	raw, _ := json.Marshal(record["_aws"])
	if err := json.Unmarshal(raw, &meta); err != nil || len(meta.CloudWatchMetrics) != 1 || len(meta.CloudWatchMetrics[0].Dimensions) != 1 {
		t.Fatalf("EMF record: want one directive with one dimension set, got %s (%v)", raw, err)
	}
	directive := meta.CloudWatchMetrics[0]
	dims := map[string]string{}
	for _, d := range directive.Dimensions[0] {
		if record[d] != "the-function" {
			t.Errorf("EMF record: dimension %s = %v, want the function's name", d, record[d])
		}
		dims[d] = functionName
	}
	out := map[string]bool{}
	for _, m := range directive.Metrics {
		if _, ok := record[m.Name].(float64); !ok {
			t.Errorf("EMF record: metric %s = %v, want a number: CloudWatch would extract nothing", m.Name, record[m.Name])
		}
		out[metricKey(directive.Namespace, m.Name, dims)] = true
	}
	return out
}

// existing is every metric a graph may draw: the function's own, as
// emitted, and the Lambda and SQS metrics of the construct's function and
// queues, as CDK's helpers name them.
func existing(t *testing.T, s *synthesized) map[string]bool {
	t.Helper()
	e := s.enforcer
	out := emitted(t, cdktest.LogicalID(e.Function))
	stack := awscdk.Stack_Of(e.Construct)
	add := func(m awscloudwatch.Metric) {
		dims := map[string]string{}
		for k, v := range stack.Resolve(m.Dimensions()).(map[string]any) {
			dims[k] = flatten(v)
		}
		out[metricKey(*m.Namespace(), *m.MetricName(), dims)] = true
	}
	for _, m := range []awscloudwatch.Metric{
		e.Function.MetricErrors(nil), e.Function.MetricThrottles(nil), e.Function.MetricDuration(nil), e.Function.MetricInvocations(nil),
	} {
		add(m)
	}
	for _, q := range []awssqs.Queue{e.SweepQueue, e.SweepDeadLetterQueue, e.RuleDeadLetterQueue, e.FailureQueue} {
		add(q.MetricApproximateNumberOfMessagesVisible(nil))
		add(q.MetricApproximateNumberOfMessagesNotVisible(nil))
		add(q.MetricApproximateAgeOfOldestMessage(nil))
	}
	return out
}

// TestDashboardGraphsOnlyMetricsThatExist: every line of every graph is a
// metric the function emits (pkg/metrics, read back from its EMF record)
// or one Lambda or SQS publishes for the construct's function and queues,
// with the same namespace, name and dimensions, so a renamed metric or
// dimension cannot leave an empty graph. The doctored bodies show the
// check finds each such mistake.
func TestDashboardGraphsOnlyMetricsThatExist(t *testing.T) {
	s := defaults(t)
	exists := existing(t, s)
	fn := cdktest.LogicalID(s.enforcer.Function)
	firstLine := func(body map[string]any) []any {
		return body["widgets"].([]any)[1].(map[string]any)["properties"].(map[string]any)["metrics"].([]any)[0].([]any)
	}
	outcomes := `widget 1 "Repositories by outcome, per 5 minutes"`
	for _, tc := range []struct {
		name   string
		doctor func(body map[string]any)
		want   []string
	}{
		{"as synthesized", func(map[string]any) {}, nil},
		{"a metric renamed", func(body map[string]any) { firstLine(body)[1] = "Applies" },
			[]string{outcomes + ": EcrBaseline/Applies {FunctionName=" + fn + "} is not a metric anything emits"}},
		{"a dimension renamed", func(body map[string]any) { firstLine(body)[2] = "Function" },
			[]string{outcomes + ": EcrBaseline/Applied {Function=" + fn + "} is not a metric anything emits"}},
		{"another function", func(body map[string]any) { firstLine(body)[3] = "OtherFunction" },
			[]string{outcomes + ": EcrBaseline/Applied {FunctionName=OtherFunction} is not a metric anything emits"}},
		{"a graph emptied", func(body map[string]any) {
			body["widgets"].([]any)[2].(map[string]any)["properties"].(map[string]any)["metrics"] = []any{}
		}, []string{`widget 2 "Newly exempted by tag" graphs no metric`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := dashboardBody(t, s)
			tc.doctor(body)
			byTitle, problems := graphedMetrics(body)
			for title, lines := range byTitle {
				for _, g := range lines {
					if !exists[g.key] {
						problems = append(problems, fmt.Sprintf("%s: %s is not a metric anything emits", title, g.key))
					}
				}
			}
			if d := cmp.Diff(tc.want, problems); d != "" {
				t.Errorf("problems (-want +got):\n%s", d)
			}
		})
	}
}

// TestDashboardShowsWhatOperatorsLookFor: the outcomes, sweep progress,
// the dead-letter queues, errors, throttles and duration are all on the
// dashboard, and every metric the function emits is graphed, but for
// those left out on purpose: a new metric must be graphed or listed here.
func TestDashboardShowsWhatOperatorsLookFor(t *testing.T) {
	s := defaults(t)
	e := s.enforcer
	fn := cdktest.LogicalID(e.Function)
	notGraphed := map[string]string{
		// Lambda's own Duration, p50 and p99, times the same invocations.
		metricKey(metrics.Namespace, metrics.Duration, map[string]string{metrics.DimensionFunctionName: fn}): "Lambda's Duration",
	}
	want := map[graphed]bool{}
	for key := range emitted(t, fn) {
		if _, skip := notGraphed[key]; !skip {
			want[graphed{key, "Sum"}] = true
		}
	}
	lambda := func(name, stat string) {
		want[graphed{metricKey("AWS/Lambda", name, map[string]string{"FunctionName": fn}), stat}] = true
	}
	lambda("Errors", "Sum")
	lambda("Throttles", "Sum")
	lambda("Duration", "p50")
	lambda("Duration", "p99")
	sqs := func(q awssqs.Queue, name string) {
		want[graphed{metricKey("AWS/SQS", name, map[string]string{"QueueName": cdktest.LogicalID(q) + "QueueName"}), "Maximum"}] = true
	}
	sqs(e.SweepQueue, "ApproximateNumberOfMessagesVisible")
	sqs(e.SweepQueue, "ApproximateNumberOfMessagesNotVisible")
	sqs(e.SweepQueue, "ApproximateAgeOfOldestMessage")
	for _, q := range []awssqs.Queue{e.RuleDeadLetterQueue, e.FailureQueue, e.SweepDeadLetterQueue} {
		sqs(q, "ApproximateNumberOfMessagesVisible")
	}

	byTitle, problems := graphedMetrics(dashboardBody(t, s))
	if len(problems) > 0 {
		t.Fatalf("dashboard: %q", problems)
	}
	got := map[graphed]bool{}
	for _, lines := range byTitle {
		for _, g := range lines {
			got[g] = true
		}
	}
	for g := range want {
		if !got[g] {
			t.Errorf("the dashboard does not graph %s (%s)", g.key, g.stat)
		}
	}
	for g := range got {
		if _, left := notGraphed[g.key]; left {
			t.Errorf("the dashboard graphs %s, listed as left out", g.key)
		}
	}
}

// TestDashboardShowsEveryAlarm: the alarm widget at the top lists every
// alarm of the construct, so a red one is the first thing seen.
func TestDashboardShowsEveryAlarm(t *testing.T) {
	s := defaults(t)
	var want []any
	for _, a := range s.enforcer.Alarms {
		want = append(want, cdktest.LogicalID(a)+"Arn")
	}
	widgets := dashboardBody(t, s)["widgets"].([]any)
	top := widgets[0].(map[string]any)
	if top["type"] != "alarm" {
		t.Fatalf("first widget is %v, want the alarm status", top["type"])
	}
	if d := cmp.Diff(want, top["properties"].(map[string]any)["alarms"]); d != "" {
		t.Errorf("alarms (-want +got):\n%s", d)
	}
	if slices.ContainsFunc(widgets[1:], func(w any) bool { return w.(map[string]any)["type"] == "alarm" }) {
		t.Error("more than one alarm widget")
	}
}

// TestDashboardName: found in the console by the stack's name, unless
// DashboardName says otherwise.
func TestDashboardName(t *testing.T) {
	for _, tc := range []struct {
		name  string
		synth func(*testing.T) *synthesized
		want  string
	}{
		{"default: stack and id", defaults, `"Test-Enforcer"`},
		{"DashboardName", options, `"platform-ecr-baseline"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.synth(t)
			dashboard := s.json.Resource(t, "AWS::CloudWatch::Dashboard", cdktest.LogicalID(s.enforcer.Dashboard))
			diff(t, "dashboard name", dashboard["DashboardName"], tc.want)
		})
	}
}
