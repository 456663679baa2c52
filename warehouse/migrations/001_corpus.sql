-- The corpus schema. Timestamps are TIMESTAMPTZ in UTC; views show Europe/Kyiv where people read them.
-- Keep this plain, portable DuckDB SQL: the same statements must run on a DuckLake catalog.

CREATE TABLE articles (
    article_id     VARCHAR NOT NULL,   -- hash of canonical_url
    url            VARCHAR NOT NULL,
    canonical_url  VARCHAR NOT NULL,
    title          VARCHAR,
    subtitle       VARCHAR,
    section        VARCHAR,
    lang           VARCHAR,
    published_at   TIMESTAMPTZ,
    modified_at    TIMESTAMPTZ,
    date_line      VARCHAR,            -- the page's date line as printed, for the weekday check
    tags           VARCHAR[],
    labels         VARCHAR[],
    body           VARCHAR,
    image_url      VARCHAR,
    image_caption  VARCHAR,
    has_jsonld     BOOLEAN,
    provenance     JSON,               -- field -> layer that supplied it (jsonld, meta, selector, generic)
    word_count     INTEGER,
    content_hash   VARCHAR NOT NULL,
    version        INTEGER NOT NULL,   -- 1 for the first text seen, +1 per content change
    version_seen_at TIMESTAMPTZ NOT NULL, -- when this version was first seen
    first_seen_at  TIMESTAMPTZ NOT NULL,
    last_seen_at   TIMESTAMPTZ NOT NULL,
    last_run_id    VARCHAR NOT NULL,
    site           VARCHAR NOT NULL    -- the site profile it was crawled with
);

-- Earlier versions of an article, replaced when its content hash changed.
CREATE TABLE article_versions (
    article_id    VARCHAR NOT NULL,
    version       INTEGER NOT NULL,
    valid_from    TIMESTAMPTZ NOT NULL,
    valid_to      TIMESTAMPTZ NOT NULL,
    content_hash  VARCHAR NOT NULL,
    title         VARCHAR,
    subtitle      VARCHAR,
    body          VARCHAR,
    tags          VARCHAR[],
    modified_at   TIMESTAMPTZ,
    replaced_by_run_id VARCHAR NOT NULL
);

CREATE TABLE article_tags (
    article_id  VARCHAR NOT NULL,
    tag         VARCHAR NOT NULL
);

CREATE TABLE crawl_runs (
    run_id        VARCHAR NOT NULL,
    flow_run_id   VARCHAR,             -- the Prefect flow run, when run under Prefect
    site          VARCHAR NOT NULL,
    base_url      VARCHAR NOT NULL,
    mode          VARCHAR NOT NULL,    -- full, incremental, backfill, reprocess
    window_since  TIMESTAMPTZ,         -- a backfill chunk's publication window
    window_until  TIMESTAMPTZ,
    started_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ,
    status        VARCHAR NOT NULL,    -- completed, failed
    error         VARCHAR,
    discovered    INTEGER NOT NULL DEFAULT 0,
    fetched       INTEGER NOT NULL DEFAULT 0,
    new           INTEGER NOT NULL DEFAULT 0,
    updated       INTEGER NOT NULL DEFAULT 0,
    unchanged     INTEGER NOT NULL DEFAULT 0,
    quarantined   INTEGER NOT NULL DEFAULT 0,
    failed        INTEGER NOT NULL DEFAULT 0,
    not_modified  INTEGER NOT NULL DEFAULT 0,  -- conditional re-fetches answered 304
    archive_dir   VARCHAR
);

-- The archive's index: one row per URL a run requested, with the state it ended in.
CREATE TABLE fetches (
    run_id       VARCHAR NOT NULL,
    url          VARCHAR NOT NULL,
    kind         VARCHAR NOT NULL,     -- listing, article, other
    status       INTEGER,              -- HTTP status; NULL when no response came
    error        VARCHAR,
    fetched_at   TIMESTAMPTZ,
    warc_file    VARCHAR,              -- where the raw response is archived
    warc_offset  BIGINT,
    warc_length  BIGINT,
    etag         VARCHAR,              -- validators for conditional re-fetches
    last_modified VARCHAR,
    article_id   VARCHAR,
    outcome      VARCHAR               -- for articles: new, updated, unchanged, quarantined, failed
);

CREATE TABLE quarantine (
    run_id          VARCHAR NOT NULL,
    article_id      VARCHAR,
    url             VARCHAR NOT NULL,
    reasons         VARCHAR[] NOT NULL,
    record          JSON NOT NULL,     -- the cleaned record as it was held back
    quarantined_at  TIMESTAMPTZ NOT NULL,
    released_at     TIMESTAMPTZ,       -- when a later run loaded this URL after all
    released_by     VARCHAR            -- that run
);

CREATE TABLE validation_results (
    run_id              VARCHAR NOT NULL,
    suite               VARCHAR NOT NULL,
    expectation         VARCHAR NOT NULL,
    "column"            VARCHAR,
    severity            VARCHAR NOT NULL,
    success             BOOLEAN NOT NULL,
    unexpected_count    INTEGER NOT NULL,
    unexpected_percent  DOUBLE NOT NULL,
    sample_ids          VARCHAR[],
    reason              VARCHAR
);

-- Rows of a run waiting to be merged; workers append here, one merge step publishes them.
CREATE TABLE articles_staging AS SELECT * EXCLUDE (version, version_seen_at, first_seen_at, last_seen_at, last_run_id, site),
    CAST(NULL AS VARCHAR) AS run_id, CAST(NULL AS TIMESTAMPTZ) AS seen_at
    FROM articles WHERE false;
