package cli

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/redis/go-redis/v9"
)

// redisLog routes go-redis's own messages (dial failures while Redis is
// down) through slog, so they follow --log-format instead of going to
// stderr raw. go-redis's logger is a process global: set it once.
type redisLog struct{ logger *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.logger.WarnContext(ctx, fmt.Sprintf(format, v...), "component", "redis")
}

var redisLogOnce sync.Once

func routeRedisLogs(logger *slog.Logger) {
	redisLogOnce.Do(func() { redis.SetLogger(redisLog{logger}) })
}
