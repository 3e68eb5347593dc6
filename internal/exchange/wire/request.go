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
}

// Get requests path with the query q (if any) appended. The body comes
// back as the Requester returns it: the HTTP client has already checked it
// for errors the exchange reports inside a 2xx body (Spec.CheckBody).
func (c Client) Get(ctx context.Context, endpoint, path string, q url.Values, weight int) ([]byte, error) {
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	body, err := c.R.Get(ctx, exchange.Request{Endpoint: endpoint, Path: path, Weight: weight})
	if err != nil {
		return nil, fmt.Errorf("requesting %s %s: %w", c.Exchange, endpoint, err)
	}
	return body, nil
}
