-- Records' index ascending, (pipeline_id, ts, id), rather than descending
-- as 0002 made it. Reads are unchanged: SQLite walks an index both ways,
-- so one index serves a pipeline's newest records (ts DESC, id DESC) and
-- a time range (ts, id) alike. Records arrive in time order, and the
-- descending index took each new one at the far left of its pipeline's
-- range: inserting 300,000 rows cost 3.5-3.9 us a row against 3.1-3.5
-- ascending, and the index took 8,560 pages against 4,830. Rebuilding it
-- takes about a second per million records, once, when a database
-- migrates to this version.
DROP INDEX records_pipeline_ts_idx;
CREATE INDEX records_pipeline_ts_idx ON records (pipeline_id, ts, id);
