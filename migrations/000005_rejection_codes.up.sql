-- A stable check code beside the human reason, so rejected rows group by
-- what was wrong rather than by values embedded in the reason. Rows written
-- before get the code their source and reason imply.
ALTER TABLE ops.rejected_rows ADD COLUMN code text NOT NULL DEFAULT 'unclassified';

UPDATE ops.rejected_rows SET code = CASE
    WHEN source = 'decode' THEN 'decode'
    WHEN source = 'database' THEN 'db_refused'
    -- The daemon's reasons start with the check's name: "crossed_book: bid 101 > ask 100".
    WHEN source = 'validation' AND reason ~ '^[a-z_]+: ' THEN
        CASE split_part(reason, ':', 1)
            WHEN 'ohlc_inconsistent' THEN 'ohlc_relation'
            WHEN 'future_timestamp' THEN 'future_time'
            ELSE split_part(reason, ':', 1)
        END
    -- import's own rules, by their fixed wording.
    WHEN source = 'import' AND (reason LIKE 'csv: %' OR reason LIKE 'want % fields, got %' OR reason ~ '^(ts|open|high|low|close|volume): ') THEN 'decode'
    WHEN source = 'import' AND reason IN ('low > high', 'open outside [low, high]', 'close outside [low, high]') THEN 'ohlc_relation'
    WHEN source = 'import' AND reason IN ('prices must be > 0', 'volume must be >= 0') THEN 'invalid_value'
    WHEN source = 'import' AND reason LIKE 'ts % is not aligned to %' THEN 'misaligned_timestamp'
    ELSE 'unclassified'
END;

-- Writers always name the code; the default only keeps hand-written
-- INSERTs from older tools working.
CREATE INDEX rejected_rows_code_ts ON ops.rejected_rows (code, ts DESC);
