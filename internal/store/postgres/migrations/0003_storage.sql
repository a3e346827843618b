-- Time-series storage: the records table partitioned by time, per-day
-- bookkeeping, rollups for charts and the horizons of what is complete.
-- See internal/store/storage.go for how they work together.

DO $$
BEGIN
    IF current_setting('server_version_num')::int < 140000 THEN
        RAISE EXCEPTION 'Tributary needs PostgreSQL 14 or newer; this server runs %', current_setting('server_version');
    END IF;
END $$;

-- Records. The two reads that matter are one pipeline's newest records and
-- one pipeline's time range; (pipeline_id, ts DESC, id DESC) serves both,
-- in every partition. There is no primary key: a partitioned table's
-- unique keys must contain ts, and ids come from records_id_seq, unique by
-- construction; a second index would only slow COPY down.
--
-- Where TimescaleDB can be enabled, records is a hypertable with one chunk
-- per day and compression of chunks older than a week. Otherwise it is
-- partitioned by range of ts with native declarative partitions, one per
-- UTC day, which the store creates ahead (a periodic job) and on demand
-- (a batch whose day has none); see internal/store/postgres/partitions.go.
-- The choice is made here, once; the store reads it from the catalog.
CREATE SEQUENCE records_id_seq;

DO $$
BEGIN
    -- CREATE EXTENSION of a TimescaleDB that is installed but not in
    -- shared_preload_libraries fails with a FATAL error that ends the
    -- session, which no exception block catches: check preloading first
    -- (the same test as timescalePreloaded in postgres.go).
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
       AND NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        IF position('timescaledb' IN lower(coalesce(current_setting('shared_preload_libraries', true), ''))) = 0 THEN
            RAISE NOTICE 'timescaledb is installed but not in shared_preload_libraries; records use native partitions';
        ELSE
            BEGIN
                CREATE EXTENSION IF NOT EXISTS timescaledb;
            EXCEPTION WHEN OTHERS THEN
                -- Not permitted to this role, for instance.
                RAISE NOTICE 'timescaledb is installed but cannot be enabled (%); records use native partitions', SQLERRM;
            END;
        END IF;
    END IF;

    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        CREATE TABLE records (
            id          bigint NOT NULL,
            team_id     uuid NOT NULL,
            pipeline_id uuid NOT NULL, -- no foreign key: a per-row check slows ingest; DeletePipeline removes records
            ts          timestamptz NOT NULL,
            version     integer NOT NULL,
            size        integer NOT NULL DEFAULT 0, -- bytes of data as written, for exact stats after retention
            data        jsonb NOT NULL
        ) PARTITION BY RANGE (ts);
        CREATE INDEX records_pipeline_ts_idx ON records (pipeline_id, ts DESC, id DESC);
    ELSE
        -- The TimescaleDB path: the same columns, as a hypertable.
        CREATE TABLE records (
            id          bigint NOT NULL,
            team_id     uuid NOT NULL,
            pipeline_id uuid NOT NULL,
            ts          timestamptz NOT NULL,
            version     integer NOT NULL,
            size        integer NOT NULL DEFAULT 0,
            data        jsonb NOT NULL
        );
        EXECUTE $q$SELECT create_hypertable('records', 'ts', chunk_time_interval => INTERVAL '1 day', create_default_indexes => false)$q$;
        CREATE INDEX records_pipeline_ts_idx ON records (pipeline_id, ts DESC, id DESC);
        EXECUTE $q$ALTER TABLE records SET (timescaledb.compress, timescaledb.compress_segmentby = 'pipeline_id', timescaledb.compress_orderby = 'ts DESC, id DESC')$q$;
        EXECUTE $q$SELECT add_compression_policy('records', INTERVAL '7 days')$q$;
    END IF;
END $$;

ALTER SEQUENCE records_id_seq OWNED BY records.id;

-- What each pipeline stores per UTC day, kept in the batch transaction and
-- by retention: which pipelines have data in a day partition, the stats
-- to subtract when it is dropped, oldest/newest for storage metrics, and
-- record counts for series planning.
CREATE TABLE record_days (
    pipeline_id uuid NOT NULL,
    day         timestamptz NOT NULL, -- midnight UTC
    team_id     uuid NOT NULL,
    records     bigint NOT NULL,
    bytes       bigint NOT NULL,
    oldest      timestamptz NOT NULL,
    newest      timestamptz NOT NULL,
    PRIMARY KEY (pipeline_id, day)
);
CREATE INDEX record_days_day_idx ON record_days (day);

-- Rollups: per pipeline, width (seconds: 60, 3600, 86400), numeric field
-- and bucket, the aggregate of the field's values. Width 60 is upserted in
-- the batch transaction; 3600 and 86400 are folded from rollup_pending by
-- a periodic job. Upserts rewrite rows in place, hence the fillfactor
-- (room for HOT updates).
CREATE TABLE rollups (
    pipeline_id uuid NOT NULL,
    width       integer NOT NULL,
    field       text NOT NULL,
    bucket      timestamptz NOT NULL,
    team_id     uuid NOT NULL,
    count       bigint NOT NULL,
    sum         double precision NOT NULL,
    min         double precision NOT NULL,
    max         double precision NOT NULL,
    first_ts    timestamptz NOT NULL,
    first_val   double precision NOT NULL,
    last_ts     timestamptz NOT NULL,
    last_val    double precision NOT NULL,
    PRIMARY KEY (pipeline_id, width, field, bucket)
) WITH (fillfactor = 80);

-- Hourly deltas of committed batches not yet folded into the 1h and 1d
-- rollups. Insert-only on ingest, drained by the compaction job, read by
-- series queries so that coarse answers never lag.
CREATE TABLE rollup_pending (
    pipeline_id uuid NOT NULL,
    field       text NOT NULL,
    bucket      timestamptz NOT NULL, -- the hour
    team_id     uuid NOT NULL,
    count       bigint NOT NULL,
    sum         double precision NOT NULL,
    min         double precision NOT NULL,
    max         double precision NOT NULL,
    first_ts    timestamptz NOT NULL,
    first_val   double precision NOT NULL,
    last_ts     timestamptz NOT NULL,
    last_val    double precision NOT NULL
);
CREATE INDEX rollup_pending_idx ON rollup_pending (pipeline_id, field, bucket);

-- Per pipeline and level (width 0: the raw records), the time before which
-- the level may be incomplete: retention removed data there, or batches
-- came without rollups. Series answers a range only from a level complete
-- for it.
CREATE TABLE series_horizons (
    pipeline_id uuid NOT NULL,
    width       integer NOT NULL,
    horizon     timestamptz NOT NULL,
    PRIMARY KEY (pipeline_id, width)
);

-- Stats of dropped partitions still to be taken off their pipelines. The
-- drop writes them under its exclusive lock on records, which it must not
-- hold while waiting for pipeline rows (a transaction holding one of those
-- may be waiting for records); they are applied right after, or by the
-- next retention run should the process die in between.
CREATE TABLE stats_adjustments (
    pipeline_id uuid NOT NULL,
    records     bigint NOT NULL,
    bytes       bigint NOT NULL
);
