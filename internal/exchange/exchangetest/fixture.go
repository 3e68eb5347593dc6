// Package exchangetest is the kit every connector's tests share: the CCXT
// fixture loader, a fake Requester, field-by-field CCXT parity comparison,
// the conformance suite (Run) that all connectors must pass, and Suite,
// which runs them all from one connector's data.
package exchangetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdingest/mdingest/internal/market"
)

// Fixture is one testdata/exchanges/<exchange>.json file: recorded responses
// and requests from CCXT's static tests.
type Fixture struct {
	Exchange string `json:"exchange"`
	Source   string `json:"source"`
	Commit   string `json:"commit"`
	Files    struct {
		Request struct {
			SkipKeys []string `json:"skipKeys"`
		} `json:"request"`
	} `json:"files"`
	Cases []Case `json:"cases"`
}

// Case is one CCXT call with what it requested, received and returned.
type Case struct {
	Method         string            `json:"method"`
	Description    string            `json:"description"`
	Input          []json.RawMessage `json:"input"`
	Request        *CaseRequest      `json:"request"`
	HTTPResponse   json.RawMessage   `json:"httpResponse"`
	ParsedResponse json.RawMessage   `json:"parsedResponse"`
}

// CaseRequest is the URL CCXT built for the call.
type CaseRequest struct {
	URL         string `json:"url"`
	Description string `json:"description"`
}

// Name labels the case in subtest names and reports.
func (c Case) Name() string { return c.Method + "/" + c.Description }

// HasResponse reports whether the case carries a recorded response.
func (c Case) HasResponse() bool { return !isNull(c.HTTPResponse) }

// HasRequest reports whether the case carries the URL CCXT built.
func (c Case) HasRequest() bool { return c.Request != nil && c.Request.URL != "" }

func isNull(b json.RawMessage) bool {
	s := strings.TrimSpace(string(b))
	return s == "" || s == "null"
}

// Symbols returns the unified symbols of the first argument (a symbol or a
// list of them); nil when there is none.
func (c Case) Symbols() []string {
	if len(c.Input) == 0 || isNull(c.Input[0]) {
		return nil
	}
	var one string
	if json.Unmarshal(c.Input[0], &one) == nil {
		return []string{one}
	}
	var many []string
	if json.Unmarshal(c.Input[0], &many) == nil {
		return many
	}
	return nil
}

// Spot reports whether every symbol of the case is a spot symbol (no
// ":settle" suffix) and the call carries no extra params (CCXT's last
// argument as an object selects other APIs: mark/index prices, rolling
// windows...).
func (c Case) Spot() bool {
	syms := c.Symbols()
	if len(syms) == 0 {
		return false
	}
	for _, s := range syms {
		if strings.Contains(s, ":") || strings.Count(s, "/") != 1 {
			return false
		}
	}
	return c.Params() == nil
}

// Params is CCXT's trailing params object, or nil.
func (c Case) Params() map[string]any {
	if len(c.Input) == 0 {
		return nil
	}
	var p map[string]any
	if json.Unmarshal(c.Input[len(c.Input)-1], &p) != nil {
		return nil
	}
	return p
}

// Symbol returns the case's first symbol, parsed.
func (c Case) Symbol(t testing.TB) market.Symbol {
	t.Helper()
	syms := c.Symbols()
	if len(syms) == 0 {
		t.Fatalf("case %s has no symbol", c.Name())
	}
	s, err := market.ParseSymbol(syms[0])
	if err != nil {
		t.Fatalf("case %s: %v", c.Name(), err)
	}
	return s
}

// arg returns input[i] unless it is absent, null or the params object.
func (c Case) arg(i int) (json.RawMessage, bool) {
	if i >= len(c.Input) || isNull(c.Input[i]) || strings.HasPrefix(strings.TrimSpace(string(c.Input[i])), "{") {
		return nil, false
	}
	return c.Input[i], true
}

// Timeframe is the OHLCV case's timeframe (input[1]); CCXT's default 1m when absent.
func (c Case) Timeframe() market.Timeframe {
	raw, ok := c.arg(1)
	if !ok {
		return market.TF1m
	}
	var s string
	_ = json.Unmarshal(raw, &s)
	return market.Timeframe(s)
}

// Since returns the case's since argument (ms) as UTC time; zero when absent.
// OHLCV cases hold it at index 2, trades at index 1.
func (c Case) Since() time.Time {
	i := 1
	if c.Method == "fetchOHLCV" {
		i = 2
	}
	raw, ok := c.arg(i)
	if !ok {
		return time.Time{}
	}
	var ms int64
	if json.Unmarshal(raw, &ms) != nil {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// Limit returns the case's limit argument; 0 when absent. OHLCV cases hold
// it at index 3, order books at 1, trades at 2.
func (c Case) Limit() int {
	i := 2
	switch c.Method {
	case "fetchOHLCV":
		i = 3
	case "fetchOrderBook", "fetchL2OrderBook":
		i = 1
	}
	raw, ok := c.arg(i)
	if !ok {
		return 0
	}
	var n int
	if json.Unmarshal(raw, &n) != nil {
		return 0
	}
	return n
}

// RepoRoot walks up from the working directory to the directory holding go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// LoadFixture reads testdata/exchanges/<exchange>.json from the repo root.
func LoadFixture(t testing.TB, exchange string) Fixture {
	t.Helper()
	path := filepath.Join(RepoRoot(t), "testdata", "exchanges", exchange+".json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading fixture: %v", err)
	}
	var f Fixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	return f
}

// ErrURLMismatch is returned by CompareURL when the paths or queries differ.
var ErrURLMismatch = errors.New("request URL differs")

// CompareURL checks that gotPath (path and query, as in exchange.Request)
// matches the path and query of CCXT's wantURL, ignoring the host, the order
// of query parameters and the parameters named in skipKeys.
func CompareURL(wantURL, gotPath string, skipKeys []string) error {
	w, err := url.Parse(wantURL)
	if err != nil {
		return fmt.Errorf("parsing %q: %w", wantURL, err)
	}
	g, err := url.Parse(gotPath)
	if err != nil {
		return fmt.Errorf("parsing %q: %w", gotPath, err)
	}
	if w.Path != g.Path {
		return fmt.Errorf("%w: path %q, want %q", ErrURLMismatch, g.Path, w.Path)
	}
	wq, gq := w.Query(), g.Query()
	for _, k := range skipKeys {
		wq.Del(k)
		gq.Del(k)
	}
	if wq.Encode() != gq.Encode() {
		return fmt.Errorf("%w: query %q, want %q", ErrURLMismatch, gq.Encode(), wq.Encode())
	}
	return nil
}

// Response returns the recorded response of the first case with the given
// method and description, for building conformance routes.
func (f Fixture) Response(t testing.TB, method, description string) string {
	t.Helper()
	for _, c := range f.Cases {
		if c.Method == method && c.Description == description && c.HasResponse() {
			return string(c.HTTPResponse)
		}
	}
	t.Fatalf("fixture %s has no %s %q response", f.Exchange, method, description)
	return ""
}

// ReadTestdata reads a file from the calling package's testdata directory.
func ReadTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("reading testdata: %v", err)
	}
	return string(b)
}
