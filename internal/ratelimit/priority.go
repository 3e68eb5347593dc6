package ratelimit

import "context"

// Priority orders requests waiting for the same exchange's budget.
// Higher values go first.
type Priority int

// Priorities, lowest first. The zero value is Low, but a context without a
// priority counts as Medium (see PriorityFrom).
const (
	Low Priority = iota
	Medium
	High
	Critical
)

// priorities lists every priority, for metrics.
var priorities = [...]Priority{Low, Medium, High, Critical}

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

type priorityKey struct{}

// WithPriority returns a context carrying p, so that the priority travels
// with a request through the HTTP client down to the limiter.
func WithPriority(ctx context.Context, p Priority) context.Context {
	return context.WithValue(ctx, priorityKey{}, p.clamp())
}

// PriorityFrom returns the priority carried by ctx, Medium if none.
func PriorityFrom(ctx context.Context) Priority {
	if p, ok := ctx.Value(priorityKey{}).(Priority); ok {
		return p
	}
	return Medium
}
