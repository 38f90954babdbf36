package backfill

// TokenPosition lets the moto tests, which live in backfill_test to build
// the runner through pkg/app, see where a token says a run stopped.
func TokenPosition(token string) (pageToken string, offset int, last string, err error) {
	p, err := decodePosition(token)
	return p.PageToken, p.Offset, p.Last, err
}
