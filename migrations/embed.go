// Package migrations embeds the SQL migrations. Files at the top level apply
// to every database; a version found in postgres/ or timescaledb/ exists in
// both and the schema package picks one set by whether the timescaledb
// extension is available.
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql postgres/*.sql timescaledb/*.sql
var FS embed.FS
