-- Rollups keyed by (pipeline_id, width, bucket, field) rather than
-- (pipeline_id, width, field, bucket), and merged into in the batch
-- transaction at every width (minute, hour, day) instead of hourly
-- deltas in rollup_pending that a job folded. A batch changes one row per
-- numeric field at each width, all of the same bucket: in bucket order
-- they are neighbours on a page, where in field order each was on a page
-- of its own once a pipeline has some history, and SQLite writes every
-- page a commit changes to its log. The pending deltas' index had the
-- same shape: on the ingest benchmark (one pipeline, six numeric fields,
-- about ten records a commit) its pages were 8 of the 23 a commit wrote.
-- A chart of one field over a range steps over the other fields' rows of
-- each bucket; alerts and retention, which read every field of a range of
-- buckets, read fewer pages. Deltas still pending are folded by the
-- compaction job as before.
CREATE TABLE rollups_by_bucket (
    pipeline_id TEXT NOT NULL,
    width       INTEGER NOT NULL,
    field       TEXT NOT NULL,
    bucket      INTEGER NOT NULL,
    team_id     TEXT NOT NULL,
    count       INTEGER NOT NULL,
    sum         REAL NOT NULL,
    min         REAL NOT NULL,
    max         REAL NOT NULL,
    first_ts    INTEGER NOT NULL,
    first_val   REAL NOT NULL,
    last_ts     INTEGER NOT NULL,
    last_val    REAL NOT NULL,
    PRIMARY KEY (pipeline_id, width, bucket, field)
) STRICT, WITHOUT ROWID;
INSERT INTO rollups_by_bucket (pipeline_id, width, field, bucket, team_id, count, sum, min, max, first_ts, first_val, last_ts, last_val)
    SELECT pipeline_id, width, field, bucket, team_id, count, sum, min, max, first_ts, first_val, last_ts, last_val FROM rollups;
DROP TABLE rollups;
ALTER TABLE rollups_by_bucket RENAME TO rollups;
