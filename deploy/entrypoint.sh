#!/bin/sh
# Applies the embedded migrations (idempotent: nothing to do is success),
# then replaces itself with mdingest and the given arguments ("run" by
# default), so that signals reach the daemon directly.
set -eu
mdingest migrate up
exec mdingest "$@"
