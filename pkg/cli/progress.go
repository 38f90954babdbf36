package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
)

// unknown is a total not known (yet).
const unknown = -1

// progress prints a progress line every second until the returned stop is
// called, so a long run shows it is alive and when it should end. done
// and total are read at each line; total is unknown until set.
func progress(w io.Writer, quiet bool, done func() int, total *atomic.Int64) (stop func()) {
	if quiet {
		return func() {}
	}
	ticker := time.NewTicker(time.Second)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		for {
			select {
			case <-ticker.C:
				fmt.Fprintln(w, progressLine(done(), int(total.Load()), time.Since(start)))
			case <-quit:
				return
			}
		}
	}()
	return func() { ticker.Stop(); close(quit); wg.Wait() }
}

// newTotal is a total not known yet.
func newTotal() *atomic.Int64 {
	var t atomic.Int64
	t.Store(unknown)
	return &t
}

// progressLine says how many repositories of how many are done after
// elapsed, and how long the rest should take at the pace so far: "...
// 120/1530 repositories, 1m0s, about 11m45s left". A pure function of its
// arguments, so it is tested without a clock.
func progressLine(done, total int, elapsed time.Duration) string {
	var b strings.Builder
	if total == unknown {
		fmt.Fprintf(&b, "... %d repositories done, %s", done, elapsed.Round(time.Second))
		return b.String()
	}
	fmt.Fprintf(&b, "... %d/%d repositories, %s", done, total, elapsed.Round(time.Second))
	if done > 0 && done < total {
		left := time.Duration(float64(elapsed) * float64(total-done) / float64(done))
		fmt.Fprintf(&b, ", about %s left", left.Round(time.Second))
	}
	return b.String()
}

// inScope counts the repositories a backfill over prefix handles, so the
// progress line has a total: one DescribeRepositories per 1000
// repositories, before the run. unknown when the listing fails: the run
// reports why.
func inScope(ctx context.Context, client ecr.DescribeRepositoriesAPIClient, prefix string) int {
	n := 0
	pages := ecr.NewDescribeRepositoriesPaginator(client, &ecr.DescribeRepositoriesInput{MaxResults: aws.Int32(1000)})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return unknown
		}
		for _, repo := range out.Repositories {
			if strings.HasPrefix(aws.ToString(repo.RepositoryName), prefix) {
				n++
			}
		}
	}
	return n
}
