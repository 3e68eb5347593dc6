DROP INDEX IF EXISTS ops.rejected_rows_code_ts;
ALTER TABLE ops.rejected_rows DROP COLUMN IF EXISTS code;
