-- Pipeline-to-pipeline links and file uploads.

-- pipeline_id reads the records of upstream_id (a p2p pipeline and its
-- upstream, of the same team). One upstream per pipeline; deleting either
-- side removes the link.
CREATE TABLE pipeline_links (
    pipeline_id uuid PRIMARY KEY REFERENCES pipelines (id) ON DELETE CASCADE,
    team_id     uuid NOT NULL,
    upstream_id uuid NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL
);
CREATE INDEX pipeline_links_upstream_idx ON pipeline_links (upstream_id);

-- Files POSTed to a pipeline. The file lives in object storage under
-- blob_key; chunks advances in the transaction of each chunk's batch.
CREATE TABLE uploads (
    id          uuid PRIMARY KEY,
    team_id     uuid NOT NULL,
    pipeline_id uuid NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    filename    text NOT NULL,
    format      text NOT NULL CHECK (format IN ('csv', 'json', 'ndjson')),
    size        bigint NOT NULL,
    blob_key    text NOT NULL,
    status      text NOT NULL CHECK (status IN ('pending', 'processing', 'done', 'failed')),
    rows_total  bigint,
    rows_done   bigint NOT NULL DEFAULT 0,
    accepted    bigint NOT NULL DEFAULT 0,
    rejected    bigint NOT NULL DEFAULT 0,
    chunks      integer NOT NULL DEFAULT 0,
    error       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    finished_at timestamptz
);
CREATE INDEX uploads_pipeline_idx ON uploads (pipeline_id, created_at DESC, id DESC);
