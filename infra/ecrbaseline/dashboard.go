package ecrbaseline

import (
	"regexp"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-baseline/ecr-baseline/pkg/metrics"
)

// notDashboardName is what CloudWatch refuses in a dashboard's name.
var notDashboardName = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// newDashboard is the picture of compliance an operator looks at before
// reading a log: which alarms are red, what the function did to
// repositories, how far a sweep has got, what is waiting in a dead-letter
// queue, and how the function itself is doing. Its name defaults to
// "<stack>-<id>", so it is found by the stack's name in the console.
func newDashboard(c constructs.Construct, id string, e *Enforcer, name *string) awscloudwatch.Dashboard {
	if name == nil {
		name = jsii.String(notDashboardName.ReplaceAllString(*awscdk.Stack_Of(c).StackName()+"-"+id, ""))
	}
	own := func(metric, label string) awscloudwatch.IMetric {
		return ownMetric(e, metric).With(&awscloudwatch.MetricOptions{Label: jsii.String(label)})
	}
	depth := func(q awssqs.Queue, label string) awscloudwatch.IMetric {
		return q.MetricApproximateNumberOfMessagesVisible(labelled("Maximum", label))
	}
	alarms := make([]interfacesawscloudwatch.IAlarmRef, len(e.Alarms))
	for i, a := range e.Alarms {
		alarms[i] = a
	}
	return awscloudwatch.NewDashboard(c, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName: name,
		Widgets: &[]*[]awscloudwatch.IWidget{
			{awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
				Title: jsii.String("Alarms"), Alarms: &alarms, Width: jsii.Number(24), Height: jsii.Number(3),
			})},
			{
				graph("Repositories by outcome, per 5 minutes", 16, []awscloudwatch.IMetric{
					own(metrics.Applied, "applied"),
					own(metrics.WouldApply, "would apply (dry run)"),
					own(metrics.Unchanged, "unchanged"),
					own(metrics.Exempt, "exempt"),
					own(metrics.Skipped, "skipped"),
					own(metrics.Failed, "failed"),
				}, nil),
				graph("Newly exempted by tag", 8, []awscloudwatch.IMetric{
					own(metrics.ExemptedByTag, "repositories newly exempted"),
				}, nil),
			},
			{
				// The sweep queue's depth is the work left, the items retried
				// what fails on the way; the age of its oldest item says
				// whether a sweep is moving or stuck.
				graph("Sweep progress", 12, []awscloudwatch.IMetric{
					depth(e.SweepQueue, "items waiting"),
					e.SweepQueue.MetricApproximateNumberOfMessagesNotVisible(labelled("Maximum", "items in flight")),
					own(metrics.Retried, "items retried, per 5 minutes"),
				}, []awscloudwatch.IMetric{
					e.SweepQueue.MetricApproximateAgeOfOldestMessage(labelled("Maximum", "oldest item, seconds (right)")),
				}),
				graph("Dead-letter queues, messages waiting", 12, []awscloudwatch.IMetric{
					depth(e.RuleDeadLetterQueue, "rule: undeliverable events"),
					depth(e.FailureQueue, "function: failed events"),
					depth(e.SweepDeadLetterQueue, "sweep: failed items"),
				}, nil),
			},
			{
				graph("Function errors and throttles", 12, []awscloudwatch.IMetric{
					e.Function.MetricErrors(labelled("Sum", "errors")),
					e.Function.MetricThrottles(labelled("Sum", "throttles")),
				}, nil),
				graph("Function duration, milliseconds", 12, []awscloudwatch.IMetric{
					e.Function.MetricDuration(labelled("p50", "p50")),
					e.Function.MetricDuration(labelled("p99", "p99")),
				}, nil),
			},
		},
	})
}

// labelled is a statistic over the alarms' five minutes, with a label for
// the graph's legend.
func labelled(statistic, label string) *awscloudwatch.MetricOptions {
	opts := every5Minutes(statistic)
	opts.Label = jsii.String(label)
	return opts
}

// graph is a graph widget of the given width, 6 high, with metrics on the
// left axis and right on the right one; the left axis starts at zero, as
// every count does.
func graph(title string, width float64, left, right []awscloudwatch.IMetric) awscloudwatch.GraphWidget {
	props := &awscloudwatch.GraphWidgetProps{
		Title:     jsii.String(title),
		Width:     jsii.Number(width),
		Height:    jsii.Number(6),
		Left:      &left,
		LeftYAxis: &awscloudwatch.YAxisProps{Min: jsii.Number(0)},
	}
	if right != nil {
		props.Right = &right
		props.RightYAxis = &awscloudwatch.YAxisProps{Min: jsii.Number(0)}
	}
	return awscloudwatch.NewGraphWidget(props)
}
