// Package sweep re-enforces a whole fleet through an SQS queue. A sweep is
// started by one list item; consuming a list item lists one page of
// repositories (DescribeRepositories) and queues one enforce item per
// repository in scope, then the list item of the next page. The queue,
// consumed by the function through an event source mapping, is the sweep's
// engine: it spreads the work over as many invocations as it takes,
// retries an item that failed on its own, and after its maxReceiveCount
// moves it to the dead-letter queue as itself. Nothing is carried from one
// invocation to the next but the items.
package sweep

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ecr-baseline/ecr-baseline/pkg/ecrevent"
)

// Kinds of item.
const (
	// KindList lists one page of repositories.
	KindList = "list"
	// KindEnforce enforces one repository.
	KindEnforce = "enforce"
)

// Item is the body of one queue message.
type Item struct {
	Kind string `json:"kind"`
	// Sweep names the sweep the item belongs to: every result log line
	// (its trigger "sweep:<id>") and metric record carries it.
	Sweep string `json:"sweep"`
	// DryRun reports what would change and writes nothing. It is
	// required: an item without it must not write.
	DryRun *bool `json:"dryRun"`
	// BaselineVersion is the parameter version the sweep started with; a
	// container whose cached baseline is older reloads it first.
	BaselineVersion int64 `json:"baselineVersion"`
	// Account and Region locate the registry: the account's own, listed
	// in its region.
	Account string `json:"account"`
	Region  string `json:"region"`
	// Prefix limits a list item to repositories whose name starts with it.
	Prefix string `json:"prefix,omitempty"`
	// PageToken is the DescribeRepositories token of a list item's page,
	// empty for the first.
	PageToken string `json:"pageToken,omitempty"`
	// Repository is an enforce item's repository name.
	Repository string `json:"repository,omitempty"`
}

// Decode parses a message body. Unknown fields are refused: whoever may
// send to the queue must not be able to pass something the function would
// silently ignore.
func Decode(body string) (Item, error) {
	var it Item
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&it); err != nil {
		return it, fmt.Errorf("sweep item: %w", err)
	}
	if dec.More() {
		return it, errors.New("sweep item: trailing data after the JSON object")
	}
	return it, it.validate()
}

func (it Item) validate() error {
	var problems []string
	if it.Sweep == "" {
		problems = append(problems, "sweep is empty")
	}
	if it.DryRun == nil {
		problems = append(problems, "dryRun is required")
	}
	if it.Account == "" || it.Region == "" {
		problems = append(problems, "account and region are required")
	}
	switch it.Kind {
	case KindList:
		if it.Repository != "" {
			problems = append(problems, "a list item names no repository")
		}
	case KindEnforce:
		if it.Repository == "" {
			problems = append(problems, "an enforce item names its repository")
		}
		if it.Prefix != "" || it.PageToken != "" {
			problems = append(problems, "an enforce item has no prefix or page token")
		}
	default:
		problems = append(problems, fmt.Sprintf("kind %q is neither %q nor %q", it.Kind, KindList, KindEnforce))
	}
	if len(problems) > 0 {
		return fmt.Errorf("sweep item: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Encode is the message body of it.
func (it Item) Encode() string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(it) // an Item of strings, bools and ints always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// Repo is the repository an enforce item names.
func (it Item) Repo() ecrevent.Repository {
	return ecrevent.Repository{RegistryID: it.Account, Region: it.Region, Name: it.Repository,
		ARN: ecrevent.RepositoryARN(it.Region, it.Account, it.Repository)}
}

// Start is the first item of a new sweep of one registry.
func Start(id string, dryRun bool, version int64, account, region, prefix string) Item {
	return Item{Kind: KindList, Sweep: id, DryRun: &dryRun, BaselineVersion: version,
		Account: account, Region: region, Prefix: prefix}
}

// NewID names a sweep: random, so two sweeps started at once never share
// a name, and short enough to read in a log line.
func NewID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
