package store

import "testing"

// binanceNumbers are prices and volumes as Binance writes them: eight
// decimals, mostly trailing zeros.
var binanceNumbers = []string{"16541.77000000", "16545.70000000", "16508.39000000", "0.00081234", "1234.56789000",
	"101.12345", "0.00000000", "26.42300000"}

func BenchmarkAppendNumeric(b *testing.B) {
	buf := make([]byte, 0, 256)
	for b.Loop() {
		for _, s := range binanceNumbers {
			var err error
			if buf, err = appendNumeric(buf[:0], s); err != nil {
				b.Fatal(err)
			}
		}
	}
}
