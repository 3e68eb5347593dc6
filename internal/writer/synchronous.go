package writer

import (
	"context"
	"fmt"
	"time"

	"github.com/mdingest/mdingest/internal/tables"
)

// Synchronous is a Sink (ingest.Sink) that writes each batch to Store
// before Put returns, unbuffered: for the commands, whose cursors move
// only past durable rows.
type Synchronous struct {
	Store Store
}

// Put writes rows.
func (s Synchronous) Put(ctx context.Context, _ time.Time, rows tables.Rows) error {
	if rows.Len() == 0 {
		return nil
	}
	if _, err := s.Store.Write(ctx, rows); err != nil {
		return fmt.Errorf("writing %s: %w", rows.Table().Name(), err)
	}
	return nil
}
