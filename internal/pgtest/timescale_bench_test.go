package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BenchmarkTimescaleStart measures what Timescale costs a test: starting the
// server until its ready line, the first CREATE EXTENSION, and stopping it.
//
//	go test -run '^$' -bench TimescaleStart -benchtime 5x ./internal/pgtest/
func BenchmarkTimescaleStart(b *testing.B) {
	ctx := context.Background()
	var ready, extension, stop time.Duration
	for b.Loop() {
		t0 := time.Now()
		srv, err := startTSDB()
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		conn, err := pgx.Connect(ctx, srv.url)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS timescaledb"); err != nil {
			b.Fatal(err)
		}
		if err := conn.Close(ctx); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if err := srv.stop(); err != nil {
			b.Fatal(err)
		}
		ready += t1.Sub(t0)
		extension += t2.Sub(t1)
		stop += time.Since(t2)
	}
	n := float64(b.N)
	b.ReportMetric(ready.Seconds()*1000/n, "ready-ms/op")
	b.ReportMetric(extension.Seconds()*1000/n, "extension-ms/op")
	b.ReportMetric(stop.Seconds()*1000/n, "stop-ms/op")
}
