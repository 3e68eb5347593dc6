// Package reliabilitytest holds the outage and crash tests of issue 6:
// each owns a PostgreSQL cluster (initdb into a temporary directory,
// pg_ctl on a free port) that it can stop and start, and checks that what
// was produced while the database was away, or when a process was killed
// with SIGKILL, is stored exactly once.
//
// The PostgreSQL binaries are found in $MDINGEST_TEST_PG_BIN, else under
// /usr/lib/postgresql/*/bin. Run as root, the cluster runs as the
// "postgres" user (PostgreSQL refuses root).
package reliabilitytest
