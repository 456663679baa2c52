-- The staging area of the load protocol (warehouse/load.py). A run appends its whole batch
-- here, insert-only, in one transaction, with no lock: many writers can stage at once. One
-- merge step at a time publishes staged runs into the corpus and deletes them from here.
-- A stage is named by its stage_id: a run staged twice (a retry) is merged from its latest
-- stage only.

-- One row per stage: the run's own row, which the merge turns into its crawl_runs row.
CREATE TABLE staged_runs (
    run_id        VARCHAR NOT NULL,
    stage_id      VARCHAR NOT NULL,
    staged_at     TIMESTAMPTZ NOT NULL,
    flow_run_id   VARCHAR,
    site          VARCHAR NOT NULL,
    base_url      VARCHAR NOT NULL,
    mode          VARCHAR NOT NULL,
    window_since  TIMESTAMPTZ,
    window_until  TIMESTAMPTZ,
    started_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ NOT NULL,
    archive_dir   VARCHAR,
    timezone      VARCHAR NOT NULL
);

ALTER TABLE articles_staging ADD COLUMN stage_id VARCHAR;

-- The run's fetch rows as the crawl left them (spiders/fetches.py, FetchRow), before the
-- merge gives each loaded article its outcome.
CREATE TABLE fetches_staging (
    run_id        VARCHAR NOT NULL,
    stage_id      VARCHAR NOT NULL,
    url           VARCHAR NOT NULL,
    kind          VARCHAR NOT NULL,
    final_url     VARCHAR,
    status        INTEGER,
    error         VARCHAR,
    fetched_at    TIMESTAMPTZ,
    warc_file     VARCHAR,
    warc_offset   BIGINT,
    warc_length   BIGINT,
    etag          VARCHAR,
    last_modified VARCHAR,
    content_type  VARCHAR,
    attempts      INTEGER,
    article_id    VARCHAR,
    outcome       VARCHAR
);

CREATE TABLE quarantine_staging (
    run_id      VARCHAR NOT NULL,
    stage_id    VARCHAR NOT NULL,
    article_id  VARCHAR,
    url         VARCHAR NOT NULL,
    reasons     VARCHAR[] NOT NULL,
    record      JSON NOT NULL
);

CREATE TABLE validation_staging AS
    SELECT run_id, CAST(NULL AS VARCHAR) AS stage_id, * EXCLUDE (run_id)
    FROM validation_results WHERE false;
