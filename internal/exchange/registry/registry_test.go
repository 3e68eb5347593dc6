package registry_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/exchange/exchangetest"
	"github.com/mdingest/mdingest/internal/exchange/registry"
	"github.com/mdingest/mdingest/internal/replay"
)

var ccxtID = regexp.MustCompile(`^[a-z][a-z0-9]*$`)

// TestEntries: each entry's id is the one its Spec and its connector
// report, once in the registry, and Lookup finds it.
func TestEntries(t *testing.T) {
	ids := registry.IDs()
	require.Len(t, registry.All(), len(ids))
	seen := map[string]bool{}
	for _, e := range registry.All() {
		require.Regexp(t, ccxtID, e.ID)
		require.False(t, seen[e.ID], "%s registered twice", e.ID)
		seen[e.ID] = true
		spec := e.Spec()
		require.Equal(t, e.ID, spec.ID)
		require.Regexp(t, `^https://`, spec.BaseURL, "%s: the real API", e.ID)
		require.Positive(t, spec.RateLimit.Limit, e.ID)
		require.Positive(t, spec.RateLimit.Window, e.ID)
		require.Positive(t, spec.RateLimit.Burst, e.ID)
		require.NotNil(t, spec.CheckBody, "%s: every body is checked once, in the HTTP client", e.ID)
		require.Equal(t, e.ID, e.New(exchangetest.NewRequester(nil)).ID())
		got, ok := registry.Lookup(e.ID)
		require.True(t, ok)
		require.Equal(t, e.ID, got.ID)
	}
	_, ok := registry.Lookup("nosuchexchange")
	require.False(t, ok)

	ids[0] = "changed"
	require.NotEqual(t, "changed", registry.IDs()[0], "IDs returns a copy")
}

// TestEveryExchangeHasItsParts: a registered exchange has the rest of
// what an exchange takes: a stand-in in exchange-replay (in the same
// order), its replay fixtures and its CCXT fixture.
func TestEveryExchangeHasItsParts(t *testing.T) {
	require.Equal(t, registry.IDs(), replay.Exchanges, "exchange-replay serves exactly the registered exchanges")
	root := exchangetest.RepoRoot(t)
	for _, id := range registry.IDs() {
		fi, err := os.Stat(filepath.Join(root, "testdata", "replay", id))
		require.NoError(t, err, "%s: replay fixtures", id)
		require.True(t, fi.IsDir())
		require.NotEmpty(t, exchangetest.LoadFixture(t, id).Cases, "%s: CCXT fixture", id)
	}
}
