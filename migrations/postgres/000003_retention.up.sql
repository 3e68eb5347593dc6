-- ops.apply_retention(table, age) deletes rows older than age from one of
-- mdingest's time-keyed tables and returns how many went. The same call
-- works on TimescaleDB (where it drops whole chunks), so retention can be
-- run from psql, cron or the daemon on either backend.
CREATE FUNCTION ops.apply_retention(tbl regclass, older_than interval) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    col text := CASE WHEN tbl = 'ops.job_runs'::regclass THEN 'started_at' ELSE 'ts' END;
    n bigint;
BEGIN
    IF tbl NOT IN ('market.candles'::regclass, 'market.tickers'::regclass, 'market.order_books'::regclass,
                   'market.trades'::regclass, 'ops.request_metrics'::regclass, 'ops.quality_reports'::regclass,
                   'ops.rejected_rows'::regclass, 'ops.job_runs'::regclass) THEN
        RAISE EXCEPTION 'ops.apply_retention: % is not a time-keyed mdingest table', tbl;
    END IF;
    EXECUTE format('DELETE FROM %s WHERE %I < now() - $1', tbl, col) USING older_than;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
