-- Data quality over time from ops.quality_reports: per bucket, exchange,
-- symbol and data type, the number of validated batches, their mean and
-- worst scores (0..1), the mean of each dimension, how many batches failed
-- and how many rows were rejected.
--
-- Variables: bucket, from, to.
--
--   psql "$DATABASE_URL" -v bucket='1 day' -v from=2025-01-01 -f sql/quality_over_time.sql
\ir defaults.psql

SELECT date_bin(:'bucket'::interval, ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       exchange,
       symbol,
       data_type,
       count(*) AS reports,
       avg(score) AS avg_score,
       min(score) AS min_score,
       count(*) FILTER (WHERE NOT passed) AS failed,
       sum(rows_total) AS rows_total,
       sum(rows_rejected) AS rows_rejected,
       avg(completeness) AS completeness,
       avg(accuracy) AS accuracy,
       avg(consistency) AS consistency,
       avg(timeliness) AS timeliness,
       avg(validity) AS validity,
       avg(uniqueness) AS uniqueness
FROM ops.quality_reports
WHERE ts >= :'from'::timestamptz
  AND ts < :'to'::timestamptz
GROUP BY 1, 2, 3, 4
ORDER BY 1, 2, 3, 4;
