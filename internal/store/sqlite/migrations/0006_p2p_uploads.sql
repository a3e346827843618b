-- Pipeline-to-pipeline links and file uploads.

-- pipeline_id reads the records of upstream_id (a p2p pipeline and its
-- upstream, of the same team). One upstream per pipeline; deleting either
-- side removes the link.
CREATE TABLE pipeline_links (
    pipeline_id TEXT PRIMARY KEY REFERENCES pipelines (id) ON DELETE CASCADE,
    team_id     TEXT NOT NULL,
    upstream_id TEXT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX pipeline_links_upstream_idx ON pipeline_links (upstream_id);

-- Files POSTed to a pipeline. The file lives in object storage under
-- blob_key; chunks advances in the transaction of each chunk's batch.
CREATE TABLE uploads (
    id          TEXT PRIMARY KEY,
    team_id     TEXT NOT NULL,
    pipeline_id TEXT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    filename    TEXT NOT NULL,
    format      TEXT NOT NULL CHECK (format IN ('csv', 'json', 'ndjson')),
    size        INTEGER NOT NULL,
    blob_key    TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'done', 'failed')),
    rows_total  INTEGER,
    rows_done   INTEGER NOT NULL DEFAULT 0,
    accepted    INTEGER NOT NULL DEFAULT 0,
    rejected    INTEGER NOT NULL DEFAULT 0,
    chunks      INTEGER NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    finished_at INTEGER
) STRICT;
CREATE INDEX uploads_pipeline_idx ON uploads (pipeline_id, created_at DESC, id DESC);
