// Package pool is the one bounded worker pool: the CLI backfill's pages, a
// sweep batch's items and the test fleet's seeding all start
// work in order, a few at a time, and may have to stop starting it.
package pool

import "sync"

// Run calls fn(i, items[i]) for the items in order, at most limit at once
// (at least one). Before starting each item it waits for a free worker and
// then asks stop (nil never stops): asked that late, a stop decision based
// on a deadline sees the time the item would really start. Once stop
// reports true Run starts no more items. It returns when every call it
// started has returned, with how many it started: always the items[:started]
// prefix, which is what lets a caller resume right after them.
func Run[T any](items []T, limit int, stop func() bool, fn func(i int, item T)) (started int) {
	var (
		wg  sync.WaitGroup
		sem = make(chan struct{}, max(limit, 1))
	)
	for i, item := range items {
		sem <- struct{}{}
		if stop != nil && stop() {
			<-sem
			break
		}
		started++
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i, item)
		}()
	}
	wg.Wait()
	return started
}
