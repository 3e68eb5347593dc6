-- The policy jobs on our tables go first, in their own step: a policy job
-- that runs while its hypertable is dropped crashes the server (TimescaleDB
-- 2.28.3 segfaults in get_open_dimension_for_hypertable, seen when the
-- down migration ran just after the up one). delete_job stops a running job.
SELECT delete_job(j.job_id)
FROM timescaledb_information.jobs j
WHERE j.job_id >= 1000
  AND (j.hypertable_schema IN ('market', 'ops')
       OR (j.hypertable_schema, j.hypertable_name) IN (
           SELECT materialization_hypertable_schema, materialization_hypertable_name
           FROM timescaledb_information.continuous_aggregates
           WHERE view_schema = 'market'));
DROP FUNCTION IF EXISTS ops.apply_retention(regclass, interval);
