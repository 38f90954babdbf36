package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// Report is what --output json writes on stdout: one document per run,
// whatever its outcome once the flags are parsed. R and S are the
// subcommand's result and summary: enforcer.Result and backfill.Summary
// for backfill and check, restore.Result and restore.Summary for restore.
type Report[R, S any] struct {
	Command string `json:"command"`
	// Version is the binary's (see Version).
	Version string `json:"version"`
	// ExitCode is the process's exit code.
	ExitCode int `json:"exitCode"`
	// Error says why the run failed, stopped or was refused; "" when it
	// did not.
	Error string `json:"error,omitempty"`
	// Region is the AWS region the run worked in.
	Region string `json:"region,omitempty"`
	// Settings are those the run used and where each came from.
	Settings []Setting `json:"settings,omitempty"`
	// Baseline is where the template came from: "parameter NAME" or
	// "file PATH" (backfill and check).
	Baseline string `json:"baseline,omitempty"`
	// Results are one per repository, by name; none when nothing ran.
	Results []R `json:"results"`
	// Summary counts the results; absent when nothing ran.
	Summary *S `json:"summary,omitempty"`
}

// run is one subcommand being run: its flags, and the report it builds.
type run[R, S any] struct {
	command
	Report[R, S]
	flags *flags
	json  bool
	// interrupted is the message of a run interrupted before it started.
	interrupted string
	// text prints the results and the summary as a table.
	text func(w io.Writer)
}

func newRun[R, S any](c command, f *flags, interrupted string) *run[R, S] {
	return &run[R, S]{command: c, flags: f, interrupted: interrupted,
		Report: Report[R, S]{Command: f.Name(), Version: Version(), Results: []R{}}}
}

// fail ends the run with code, saying why on stderr and in the report.
func (r *run[R, S]) fail(code int, err error) int {
	fmt.Fprintln(r.stderr, err)
	r.Error = err.Error()
	return r.finish(code)
}

// finish writes the report, as JSON or as the table with the summary,
// and returns code.
func (r *run[R, S]) finish(code int) int {
	r.ExitCode = code
	if r.json {
		enc := json.NewEncoder(r.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r.Report); err != nil {
			fmt.Fprintln(r.stderr, "write report:", err)
			return ExitFailed
		}
		return code
	}
	if r.Summary != nil && r.text != nil {
		r.text(r.stdout)
	}
	return code
}

// sortedBy orders results by repository name, as the table and the
// report list them.
func sortedBy[R any](results []R, name func(R) string) {
	sort.SliceStable(results, func(i, j int) bool { return name(results[i]) < name(results[j]) })
}

// printTable prints rows, already in order.
func printTable(w io.Writer, header []string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	_ = tw.Flush()
}
