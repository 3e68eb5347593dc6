package quality

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/mdingest/mdingest/internal/market"
)

// benchCandles is a 1000-candle 1m batch of a gently wandering price.
func benchCandles() []market.Candle {
	out := make([]market.Candle, 1000)
	start := now.Add(-1000 * time.Minute)
	for i := range out {
		p := 42000 + 50*math.Sin(float64(i)/20)
		out[i] = market.Candle{
			Exchange: "binance", Symbol: sym, Timeframe: market.TF1m, Time: start.Add(time.Duration(i) * time.Minute),
			Open: dec(fmt.Sprintf("%.2f", p)), High: dec(fmt.Sprintf("%.2f", p+5)), Low: dec(fmt.Sprintf("%.2f", p-5)),
			Close: dec(fmt.Sprintf("%.2f", p+1)), Volume: dec("12.34567"),
		}
	}
	return out
}

func BenchmarkCheckCandles1000(b *testing.B) {
	c := newChecker(b)
	batch := benchCandles()
	b.ReportAllocs()
	for b.Loop() {
		res := c.CheckCandles(batch, now, 5*time.Minute)
		if len(res.Accepted) != len(batch) {
			b.Fatalf("accepted %d of %d: %v", len(res.Accepted), len(batch), res.Rejected[0].Reason)
		}
	}
}
