// Package metrics writes what one invocation did as a CloudWatch embedded
// metric format (EMF) record: a JSON line on stdout that Lambda hands to
// CloudWatch Logs, which extracts the metrics from it. No PutMetricData
// call, no extra permission, nothing to flush before the function freezes.
package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
)

// Namespace holds every ecr-baseline metric.
const Namespace = "EcrBaseline"

// DimensionFunctionName is the one dimension, set when the function's name
// is known (always in Lambda); without it the metrics have no dimension.
const DimensionFunctionName = "FunctionName"

// Metric names: repositories per outcome, and the invocation's duration.
const (
	Applied    = "Applied"
	Unchanged  = "Unchanged"
	Skipped    = "Skipped"
	Exempt     = "Exempt"
	Failed     = "Failed"
	WouldApply = "WouldApply"
	Duration   = "Duration"
	// ExemptedByTag counts repositories a TagResource event just took out
	// of the baseline; the stack alarms on it.
	ExemptedByTag = "ExemptedByTag"
	// Retried counts sweep items that failed a delivery and return to
	// the queue; Failed counts them once, when they fail for good.
	Retried = "Retried"
)

// Units, as EMF spells them.
const (
	UnitCount        = "Count"
	UnitMilliseconds = "Milliseconds"
)

// Invocation is what one invocation did: its repositories by outcome, and
// its duration. Failed counts the repositories that could not be enforced
// or, when the invocation returned an error that names none, that one
// failure, so an event that went back to Lambda's retries counts too.
type Invocation struct {
	// Entry is what the invocation was: "event", "sweep-request",
	// "sweep-batch" or "parameter-change". It is a property of the record, searchable in
	// CloudWatch Logs Insights, not a dimension.
	Entry string
	// Sweep is the sweep the counts belong to, when they do: a property,
	// so a Logs Insights query sums one sweep's records.
	Sweep string
	enforcer.Tally
	// ExemptedByTag is how many repositories a TagResource event exempted.
	ExemptedByTag int
	// Retried is how many sweep items failed and return to the queue.
	Retried  int
	Duration time.Duration
}

// Emitter writes one EMF record per Emit.
type Emitter struct {
	w            io.Writer
	functionName string
	now          func() time.Time
	mu           sync.Mutex
}

// New writes records to w (os.Stdout in Lambda) with the FunctionName
// dimension when functionName is not empty.
func New(w io.Writer, functionName string) *Emitter {
	return &Emitter{w: w, functionName: functionName, now: time.Now}
}

type metricDefinition struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type directive struct {
	Namespace  string             `json:"Namespace"`
	Dimensions [][]string         `json:"Dimensions"`
	Metrics    []metricDefinition `json:"Metrics"`
}

type metadata struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

// record is the root node: the metadata, then the target members the
// directive names, in a fixed order.
type record struct {
	AWS           metadata `json:"_aws"`
	FunctionName  string   `json:"FunctionName,omitempty"`
	Entry         string   `json:"Entry,omitempty"`
	Sweep         string   `json:"Sweep,omitempty"`
	Applied       int      `json:"Applied"`
	Unchanged     int      `json:"Unchanged"`
	Skipped       int      `json:"Skipped"`
	Exempt        int      `json:"Exempt"`
	Failed        int      `json:"Failed"`
	WouldApply    int      `json:"WouldApply"`
	ExemptedByTag int      `json:"ExemptedByTag"`
	Retried       int      `json:"Retried"`
	Duration      float64  `json:"Duration"`
}

var definitions = []metricDefinition{
	{Applied, UnitCount}, {Unchanged, UnitCount}, {Skipped, UnitCount}, {Exempt, UnitCount},
	{Failed, UnitCount}, {WouldApply, UnitCount}, {ExemptedByTag, UnitCount}, {Retried, UnitCount}, {Duration, UnitMilliseconds},
}

// Emit writes inv as one line. Every metric is written, zeros included, so
// an alarm sees 0 rather than missing data on quiet invocations.
func (e *Emitter) Emit(inv Invocation) error {
	dims := []string{}
	if e.functionName != "" {
		dims = append(dims, DimensionFunctionName)
	}
	rec := record{
		AWS: metadata{
			Timestamp: e.now().UnixMilli(),
			CloudWatchMetrics: []directive{{
				Namespace: Namespace, Dimensions: [][]string{dims}, Metrics: definitions,
			}},
		},
		FunctionName: e.functionName, Entry: inv.Entry, Sweep: inv.Sweep,
		Applied: inv.Applied, Unchanged: inv.Unchanged, Skipped: inv.Skipped, Exempt: inv.Exempt,
		Failed: inv.Failed, WouldApply: inv.WouldApply, ExemptedByTag: inv.ExemptedByTag, Retried: inv.Retried,
		Duration: float64(inv.Duration) / float64(time.Millisecond),
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	// One write per record: Lambda reads stdout line by line, and a single
	// write keeps the line whole next to the logger's own writes.
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.w.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("metrics: write: %w", err)
	}
	return nil
}
