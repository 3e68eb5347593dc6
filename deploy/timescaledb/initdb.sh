#!/bin/sh
# Runs once, when the TimescaleDB container initialises an empty data
# directory: a login role for Grafana that can read the warehouse and
# nothing else. The schemas are created here (the migrations create them
# IF NOT EXISTS) so that default privileges cover every table, view and
# continuous aggregate the migrations add later (views read their tables
# with their owner's rights, so the aggregates' internals need no grant).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v reader_password="${GRAFANA_DB_PASSWORD:-grafana}" <<'SQL'
CREATE ROLE grafana_reader LOGIN PASSWORD :'reader_password';
CREATE SCHEMA IF NOT EXISTS market;
CREATE SCHEMA IF NOT EXISTS ops;
GRANT USAGE ON SCHEMA market, ops TO grafana_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA market GRANT SELECT ON TABLES TO grafana_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA ops GRANT SELECT ON TABLES TO grafana_reader;
SQL
