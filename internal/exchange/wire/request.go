package wire

import (
	"context"
	"fmt"
	"net/url"

	"github.com/mdingest/mdingest/internal/exchange"
)

// Client sends one exchange's GET requests through its Requester.
type Client struct {
	R        exchange.Requester
	Exchange string // names the exchange in errors
	// Check, when set, sees every body first: exchanges that report errors
	// inside 2xx bodies fail here.
	Check func(body []byte) error
}

// Get requests path with the query q (if any) appended.
func (c Client) Get(ctx context.Context, endpoint, path string, q url.Values, weight int) ([]byte, error) {
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	body, err := c.R.Get(ctx, exchange.Request{Endpoint: endpoint, Path: path, Weight: weight})
	if err != nil {
		return nil, fmt.Errorf("requesting %s %s: %w", c.Exchange, endpoint, err)
	}
	if c.Check != nil {
		if err := c.Check(body); err != nil {
			return nil, err
		}
	}
	return body, nil
}
