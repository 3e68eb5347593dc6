// Package reliabilitytest holds the outage and crash tests: each owns a
// PostgreSQL cluster (pgtest.NewCluster: initdb into a temporary directory,
// a free port) that it can stop and start, on plain PostgreSQL and with
// TimescaleDB preloaded, and checks that what was produced while the
// database was away, or when a process was killed with SIGKILL, is stored
// exactly once.
package reliabilitytest
