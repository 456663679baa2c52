-- The load protocol of warehouse/load.py: a run stages its batch (insert-only, one
-- transaction, no lock), then one merge step at a time publishes each staged run into the
-- corpus, in one transaction per run.
-- Staging reads registered relations: batch_articles, batch_fetches, batch_quarantine,
-- batch_validation. The merge reads only the staging tables, by $stage_id.

-- name: run_status
SELECT status FROM crawl_runs WHERE run_id = $run_id;

-- name: forget_run
DELETE FROM fetches WHERE run_id = $run_id;
DELETE FROM quarantine WHERE run_id = $run_id;
DELETE FROM validation_results WHERE run_id = $run_id;
DELETE FROM crawl_runs WHERE run_id = $run_id;

-- name: stage_run
INSERT INTO staged_runs (
    run_id, stage_id, staged_at, flow_run_id, site, base_url, mode, window_since, window_until,
    started_at, finished_at, archive_dir, timezone)
VALUES ($run_id, $stage_id, now(), $flow_run_id, $site, $base_url, $mode,
        CAST($window_since AS TIMESTAMPTZ), CAST($window_until AS TIMESTAMPTZ),
        CAST($started_at AS TIMESTAMPTZ), CAST($finished_at AS TIMESTAMPTZ), $archive_dir,
        $timezone);
INSERT INTO fetches_staging (
    run_id, stage_id, url, kind, final_url, status, error, fetched_at, warc_file, warc_offset,
    warc_length, etag, last_modified, content_type, attempts, article_id, outcome)
SELECT $run_id, $stage_id, url, kind, final_url, CAST(status AS INTEGER), error,
       CAST(fetched_at AS TIMESTAMPTZ), warc_file, CAST(warc_offset AS BIGINT),
       CAST(warc_length AS BIGINT), etag, last_modified, content_type,
       CAST(attempts AS INTEGER), article_id, outcome
FROM batch_fetches;
INSERT INTO quarantine_staging (run_id, stage_id, article_id, url, reasons, record)
SELECT $run_id, $stage_id, article_id, url, CAST(reasons AS VARCHAR[]), CAST(record AS JSON)
FROM batch_quarantine;
INSERT INTO validation_staging (
    run_id, stage_id, suite, expectation, "column", severity, success, unexpected_count,
    unexpected_percent, sample_ids, reason)
SELECT $run_id, $stage_id, suite, expectation, "column", severity, success, unexpected_count,
       unexpected_percent, CAST(sample_ids AS VARCHAR[]), reason
FROM batch_validation;

-- name: stage_articles
-- The batch's articles, in the transaction of stage_run: the rows that `batch_rows` names
-- (warehouse/load.py registers it) of the Parquet parts the extraction wrote
-- (extract/parts.py), read from the files as they are inserted.
INSERT INTO articles_staging (
    article_id, url, canonical_url, title, subtitle, section, lang, published_at, modified_at,
    date_line, tags, labels, body, image_url, image_caption, has_jsonld, provenance, word_count,
    content_hash, run_id, seen_at, authors, stage_id, published_precision)
SELECT article_id, url, canonical_url, title, subtitle, section, lang,
       CAST(published_at AS TIMESTAMPTZ), CAST(modified_at AS TIMESTAMPTZ), date_line,
       CAST(tags AS VARCHAR[]), CAST(labels AS VARCHAR[]), body, image_url, image_caption,
       has_jsonld, CAST(provenance AS JSON), word_count, content_hash,
       $run_id, CAST($started_at AS TIMESTAMPTZ), CAST(authors AS VARCHAR[]), $stage_id,
       published_precision
FROM read_parquet($parts, filename = true, file_row_number = true) AS part
SEMI JOIN batch_rows
    ON part.filename = batch_rows.part_file AND part.file_row_number = batch_rows.part_row;

-- name: pending_stages
-- Staged runs not yet merged, oldest first: the latest stage of each run.
SELECT run_id, stage_id, flow_run_id, site, base_url, mode, window_since, window_until,
       started_at, finished_at, archive_dir, timezone
FROM staged_runs
QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY staged_at DESC, stage_id) = 1
ORDER BY staged_at, run_id;

-- name: classify
-- One row per staged article: is it new, updated (content hash changed) or unchanged? With
-- what an updated article's row keeps: its version, when it was first seen, its site.
CREATE OR REPLACE TEMP TABLE run_outcomes AS
SELECT s.article_id,
       CASE WHEN a.article_id IS NULL THEN 'new'
            WHEN a.content_hash <> s.content_hash THEN 'updated'
            ELSE 'unchanged' END AS outcome,
       a.version, a.first_seen_at, a.site
FROM articles_staging s LEFT JOIN articles a USING (article_id)
WHERE s.stage_id = $stage_id;

-- name: outcome_counts
SELECT outcome, count(*) AS articles FROM run_outcomes GROUP BY outcome;

-- name: keep_replaced_versions
INSERT INTO article_versions (
    article_id, version, valid_from, valid_to, content_hash, title, subtitle, body, tags,
    modified_at, replaced_by_run_id)
SELECT a.article_id, a.version, a.version_seen_at, CAST($seen_at AS TIMESTAMPTZ), a.content_hash,
       a.title, a.subtitle, a.body, a.tags, a.modified_at, $run_id
FROM articles a JOIN run_outcomes o USING (article_id)
WHERE o.outcome = 'updated';

-- name: delete_replaced_articles
-- A changed article's row is replaced, not updated: deleted here, and inserted with its new
-- text by insert_articles. An UPDATE of every changed row in the merge's one transaction
-- needed memory that DuckDB did not spill: updating the 193,028 changed articles of a 200k
-- corpus failed at 128MB, and deleting and inserting them took 128MB (by hand;
-- docs/performance.md, "A changed article replaced, not updated").
DELETE FROM articles WHERE article_id IN
    (SELECT article_id FROM run_outcomes WHERE outcome = 'updated');

-- name: touch_seen_articles
-- A re-fetch with no change only records that the article was seen; reprocessing an
-- archive sees nothing new, so it leaves unchanged rows alone.
UPDATE articles AS a SET
    labels = s.labels, authors = s.authors, last_seen_at = s.seen_at, last_run_id = s.run_id
FROM (SELECT * FROM articles_staging WHERE stage_id = $stage_id) AS s
WHERE a.article_id = s.article_id AND a.content_hash = s.content_hash AND $mode <> 'reprocess';

-- name: record_unknown_precision
-- Rows loaded before the precision was recorded (migration 007) get it when seen again,
-- a reprocess included: metadata, not an edit.
UPDATE articles AS a SET published_precision = s.published_precision
FROM (SELECT * FROM articles_staging WHERE stage_id = $stage_id) AS s
WHERE a.article_id = s.article_id AND a.published_precision IS NULL
  AND a.published_at = s.published_at;

-- name: insert_articles
-- The run's new articles, and its changed ones anew: their next version, first seen as
-- before, on their site.
INSERT INTO articles (
    article_id, url, canonical_url, title, subtitle, section, lang, published_at, modified_at,
    date_line, tags, labels, body, image_url, image_caption, has_jsonld, provenance, word_count,
    content_hash, version, version_seen_at, first_seen_at, last_seen_at, last_run_id, site,
    authors, published_precision)
SELECT s.article_id, s.url, s.canonical_url, s.title, s.subtitle, s.section, s.lang,
       s.published_at, s.modified_at, s.date_line, s.tags, s.labels, s.body, s.image_url,
       s.image_caption, s.has_jsonld, s.provenance, s.word_count, s.content_hash,
       coalesce(o.version + 1, 1), s.seen_at, coalesce(o.first_seen_at, s.seen_at), s.seen_at,
       s.run_id, coalesce(o.site, $site), s.authors, s.published_precision
FROM articles_staging s JOIN run_outcomes o USING (article_id)
WHERE s.stage_id = $stage_id AND o.outcome IN ('new', 'updated');

-- name: touch_not_modified
-- A conditional re-fetch answered 304: the stored version is still current.
UPDATE articles SET last_seen_at = CAST($seen_at AS TIMESTAMPTZ), last_run_id = $run_id
WHERE url IN (SELECT url FROM fetches_staging
              WHERE stage_id = $stage_id AND outcome = 'not_modified');

-- name: refresh_tags
DELETE FROM article_tags WHERE article_id IN
    (SELECT article_id FROM run_outcomes WHERE outcome IN ('new', 'updated'));
INSERT INTO article_tags (article_id, tag)
SELECT s.article_id, unnest(s.tags) AS tag
FROM articles_staging s JOIN run_outcomes o USING (article_id)
WHERE s.stage_id = $stage_id AND o.outcome IN ('new', 'updated');

-- name: unindex_slice
-- Up to $articles of the staged run's changed articles (their text differs from the
-- corpus's) leave the search index, and the last statement counts them; warehouse/load.py
-- runs it before the merge, a transaction a slice, until none is left. Read from
-- search_docs, so that a slice tends to take articles indexed together, whose rows lie
-- together (DuckDB does not promise that order, and it was not measured apart);
-- index_backlog puts their new text back after the merge.
CREATE OR REPLACE TEMP TABLE unindexed AS
SELECT d.article_id
FROM search_docs d
SEMI JOIN (SELECT s.article_id
           FROM articles_staging s JOIN articles a ON a.article_id = s.article_id
           WHERE s.stage_id = $stage_id AND a.content_hash <> s.content_hash) c
    ON c.article_id = d.article_id
LIMIT $articles;
DELETE FROM search_terms WHERE article_id IN (SELECT article_id FROM unindexed);
DELETE FROM search_docs WHERE article_id IN (SELECT article_id FROM unindexed);
SELECT count(*) FROM unindexed;

-- name: index_backlog_size
-- How many articles the search index lacks: each indexed article has one search_docs row.
SELECT (SELECT count(*) FROM articles) - (SELECT count(*) FROM search_docs);

-- name: staged_backlog
-- Up to $articles of this run's new and updated articles not in the search index yet, with
-- their text from the staging table: no search of the corpus, which reads its text
-- (corpus_backlog: at 200k articles, 0.15-0.43 s and some 200 MiB of DuckDB's buffers, at
-- every chunk of a backfill).
-- Their ids first, then their text: in one statement, DuckDB built its hash join on the
-- staged rows, text and all, once a run staged some 200k articles (1 GB; under a 128MB
-- limit the merge failed, at 512MB it spilled, 93 s against 55 now).
CREATE OR REPLACE TEMP TABLE backlog_ids AS
SELECT s.article_id
FROM articles_staging s JOIN run_outcomes o USING (article_id)
    ANTI JOIN search_docs d ON d.article_id = s.article_id
WHERE s.stage_id = $stage_id AND o.outcome IN ('new', 'updated')
LIMIT $articles;
CREATE OR REPLACE TEMP TABLE backlog AS
SELECT s.article_id, concat_ws(' ', s.title, s.subtitle, s.body) AS text,
       hash(s.article_id) % 4 AS part
FROM articles_staging s SEMI JOIN backlog_ids b ON b.article_id = s.article_id
WHERE s.stage_id = $stage_id;
DROP TABLE backlog_ids;

-- name: corpus_backlog
-- Up to $articles of the articles not in the search index yet, whichever they are (after a
-- migration that emptied the index, all of them).
CREATE OR REPLACE TEMP TABLE backlog AS
SELECT article_id, concat_ws(' ', title, subtitle, body) AS text, hash(article_id) % 4 AS part
FROM articles ANTI JOIN search_docs USING (article_id)
LIMIT $articles;

-- name: index_slice
-- The articles of the backlog table join the search index, and the last statement counts
-- them: warehouse/load.py fills the table a slice at a time, so that the words held at once
-- are those of one slice, whatever the backlog. Stemming goes by distinct word.
-- Tokenized in four parts: fewer than 122,880 rows are one row group, which DuckDB scans on
-- one thread; the UNION ALL branches run on every core (10k articles: 1.4 s -> 1.0 s).
CREATE OR REPLACE TEMP TABLE backlog_words AS
SELECT article_id, word, count(*) AS tf
FROM (SELECT article_id, unnest(search_words(text)) AS word FROM backlog WHERE part = 0
      UNION ALL
      SELECT article_id, unnest(search_words(text)) AS word FROM backlog WHERE part = 1
      UNION ALL
      SELECT article_id, unnest(search_words(text)) AS word FROM backlog WHERE part = 2
      UNION ALL
      SELECT article_id, unnest(search_words(text)) AS word FROM backlog WHERE part = 3)
GROUP BY ALL;
INSERT INTO search_terms (article_id, term, tf)
SELECT w.article_id, s.term, sum(w.tf)
FROM backlog_words w
JOIN (SELECT word, search_stem(word) AS term FROM (SELECT DISTINCT word FROM backlog_words)) s
    USING (word)
GROUP BY ALL;
INSERT INTO search_docs (article_id, words)
SELECT article_id, coalesce(w.words, 0)
FROM backlog
LEFT JOIN (SELECT article_id, sum(tf) AS words FROM backlog_words GROUP BY article_id) w
    USING (article_id);
DROP TABLE backlog_words;
SELECT count(*) FROM backlog;

-- name: record_fetches
INSERT INTO fetches (
    run_id, url, kind, status, error, fetched_at, warc_file, warc_offset, warc_length, etag,
    last_modified, article_id, outcome, content_type, attempts)
SELECT $run_id, f.url, f.kind, f.status, f.error, f.fetched_at, f.warc_file, f.warc_offset,
       f.warc_length, f.etag, f.last_modified,
       coalesce(f.article_id, a.article_id),
       CASE WHEN f.outcome = 'not_modified' THEN 'unchanged'
            ELSE coalesce(o.outcome, f.outcome) END,
       f.content_type, f.attempts
FROM (SELECT * FROM fetches_staging WHERE stage_id = $stage_id) AS f
-- Conditions as join keys (NULL matches nothing): DuckDB then hash-joins; a filter beside
-- the key in a LEFT JOIN's ON made it a nested-loop join (0.6 s at 10,000 fetches).
LEFT JOIN run_outcomes o ON o.article_id = CASE WHEN f.outcome = 'loaded' THEN f.article_id END
LEFT JOIN articles a ON a.url = CASE WHEN f.outcome = 'not_modified' THEN f.url END;

-- name: record_quarantine
INSERT INTO quarantine (
    run_id, article_id, url, reasons, record, quarantined_at, released_at, released_by)
SELECT $run_id, article_id, url, reasons, record, CAST($seen_at AS TIMESTAMPTZ), NULL, NULL
FROM quarantine_staging WHERE stage_id = $stage_id;

-- name: release_quarantine
-- Pages held back earlier that this run loaded (say, after an extractor fix) are released.
UPDATE quarantine SET released_at = CAST($seen_at AS TIMESTAMPTZ), released_by = $run_id
WHERE released_at IS NULL AND run_id <> $run_id
  AND url IN (SELECT url FROM articles_staging WHERE stage_id = $stage_id);

-- name: record_validation
INSERT INTO validation_results (
    run_id, suite, expectation, "column", severity, success, unexpected_count,
    unexpected_percent, sample_ids, reason)
SELECT $run_id, suite, expectation, "column", severity, success, unexpected_count,
       unexpected_percent, sample_ids, reason
FROM validation_staging WHERE stage_id = $stage_id;

-- name: record_failed_validation
-- The validation results of a run that failed before staging (the drift alarm's).
INSERT INTO validation_results (
    run_id, suite, expectation, "column", severity, success, unexpected_count,
    unexpected_percent, sample_ids, reason)
SELECT $run_id, suite, expectation, "column", severity, success, unexpected_count,
       unexpected_percent, CAST(sample_ids AS VARCHAR[]), reason
FROM batch_validation;

-- name: record_run
INSERT INTO crawl_runs (
    run_id, flow_run_id, site, base_url, mode, window_since, window_until, started_at,
    finished_at, status, error, discovered, fetched, new, updated, unchanged, quarantined,
    failed, not_modified, archive_dir)
SELECT $run_id, $flow_run_id, $site, $base_url, $mode,
       CAST($window_since AS TIMESTAMPTZ), CAST($window_until AS TIMESTAMPTZ),
       CAST($started_at AS TIMESTAMPTZ), CAST($finished_at AS TIMESTAMPTZ), 'completed', NULL,
       count(*),
       count(*) FILTER (WHERE status IS NOT NULL),
       count(*) FILTER (WHERE outcome = 'new'),
       count(*) FILTER (WHERE outcome = 'updated'),
       count(*) FILTER (WHERE outcome = 'unchanged'),
       count(*) FILTER (WHERE outcome = 'quarantined'),
       count(*) FILTER (WHERE outcome = 'failed'),
       count(*) FILTER (WHERE status = 304),
       $archive_dir
FROM fetches WHERE run_id = $run_id AND kind = 'article';

-- name: record_failed_run
INSERT INTO crawl_runs (run_id, flow_run_id, site, base_url, mode, window_since, window_until,
                        started_at, finished_at, status, error, archive_dir)
VALUES ($run_id, $flow_run_id, $site, $base_url, $mode, CAST($window_since AS TIMESTAMPTZ),
        CAST($window_until AS TIMESTAMPTZ), CAST($started_at AS TIMESTAMPTZ),
        CAST($finished_at AS TIMESTAMPTZ), 'failed', $error, $archive_dir);

-- name: record_site_zone
DELETE FROM site_zones WHERE site = $site;
INSERT INTO site_zones (site, timezone) VALUES ($site, $timezone);

-- name: unstage
-- Every stage of the run: a merged run's, and any earlier stage of it that a retry replaced.
DELETE FROM articles_staging WHERE run_id = $run_id;
DELETE FROM fetches_staging WHERE run_id = $run_id;
DELETE FROM quarantine_staging WHERE run_id = $run_id;
DELETE FROM validation_staging WHERE run_id = $run_id;
DELETE FROM staged_runs WHERE run_id = $run_id;

-- name: run_summary
SELECT run_id, mode, status, discovered, fetched, new, updated, unchanged, quarantined, failed,
       not_modified
FROM crawl_runs WHERE run_id = $run_id;
