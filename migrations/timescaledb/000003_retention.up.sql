-- ops.apply_retention(table, age): see the PostgreSQL variant. Here it
-- drops whole chunks older than age and returns how many went.
CREATE FUNCTION ops.apply_retention(tbl regclass, older_than interval) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    IF tbl NOT IN ('market.candles'::regclass, 'market.tickers'::regclass, 'market.order_books'::regclass,
                   'market.trades'::regclass, 'ops.request_metrics'::regclass, 'ops.quality_reports'::regclass,
                   'ops.rejected_rows'::regclass, 'ops.job_runs'::regclass) THEN
        RAISE EXCEPTION 'ops.apply_retention: % is not a time-keyed mdingest table', tbl;
    END IF;
    SELECT count(*) INTO n FROM drop_chunks(tbl, older_than => older_than);
    RETURN n;
END $$;
