-- Coalesced deliveries (issue 10): a running delivery job carries the
-- sink's later pending deliveries. A carried delivery's own job is
-- deleted, its job_id points at the carrying job, and payload keeps its
-- own job's arguments (as it does for a dead delivery). These indexes
-- find the pending deliveries of a sink that no job carries yet, and the
-- deliveries a job carries.
CREATE INDEX deliveries_queued_idx ON deliveries (pipeline_id, sink, id) WHERE status = 'pending' AND payload IS NULL;
CREATE INDEX deliveries_carried_idx ON deliveries (job_id) WHERE status IN ('pending', 'retrying') AND payload IS NOT NULL;
