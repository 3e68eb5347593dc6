// Package priority orders the requests that wait for the same exchange's
// budget. The priority travels in the context, from the job that asks
// (scheduler, backfill, ingest) through the HTTP client to the rate
// limiter and the writer, none of which need import each other for it.
package priority

import "context"

// Priority orders requests waiting for the same exchange's budget.
// Higher values go first.
type Priority int

// Priorities, lowest first. The zero value is Low, but a context without a
// priority counts as Medium (see From).
const (
	Low Priority = iota
	Medium
	High
	Critical
)

// All lists every priority, lowest first, for metrics.
var All = [...]Priority{Low, Medium, High, Critical}

func (p Priority) String() string {
	switch p {
	case Low:
		return "low"
	case Medium:
		return "medium"
	case High:
		return "high"
	case Critical:
		return "critical"
	default:
		return "unknown"
	}
}

// clamp maps out-of-range values to the nearest valid priority.
func (p Priority) clamp() Priority {
	return min(max(p, Low), Critical)
}

type key struct{}

// With returns a context carrying p, so that the priority travels with a
// request through the HTTP client down to the limiter.
func With(ctx context.Context, p Priority) context.Context {
	return context.WithValue(ctx, key{}, p.clamp())
}

// From returns the priority carried by ctx, Medium if none.
func From(ctx context.Context) Priority {
	if p, ok := ctx.Value(key{}).(Priority); ok {
		return p
	}
	return Medium
}
