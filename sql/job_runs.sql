-- Scheduled and manual job runs per job and exchange: how many ran, how
-- many failed, rows written, mean and longest duration, and the last run,
-- the last success and the last error message.
--
-- Variables: from, to (on started_at).
--
--   psql "$DATABASE_URL" -v from=2025-01-06 -f sql/job_runs.sql
\ir defaults.psql

SELECT job,
       exchange,
       count(*) AS runs,
       count(*) FILTER (WHERE outcome = 'error') AS errors,
       count(*) FILTER (WHERE outcome = 'skipped') AS skipped,
       sum(rows) AS rows,
       avg(finished_at - started_at) AS avg_duration,
       max(finished_at - started_at) AS max_duration,
       max(started_at) AS last_run,
       max(started_at) FILTER (WHERE outcome = 'ok') AS last_success,
       (array_agg(error ORDER BY started_at DESC) FILTER (WHERE error IS NOT NULL))[1] AS last_error
FROM ops.job_runs
WHERE started_at >= :'from'::timestamptz
  AND started_at < :'to'::timestamptz
GROUP BY 1, 2
ORDER BY 1, 2;
