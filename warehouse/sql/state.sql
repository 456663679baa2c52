-- What the corpus already holds, for planning incremental runs, backfills and reprocessing.

-- name: high_water_mark
SELECT max(published_at) FROM articles WHERE site = $site;

-- name: known_urls
-- Every URL of the site that needs no blind re-fetch: stored articles (with their validators
-- for conditional requests), held-back pages and pages that are gone (404, 410).
-- `modified` is the stored version's modified time; the crawl takes the later of it and
-- `last_modified` (spiders/plan.py, `KnownUrl.changed_at`) for the few URLs it meets.
-- The latest fetch of each URL by arg_max: a third of the time a window took at 400k fetches.
WITH latest AS (
    SELECT url, arg_max({'etag': etag, 'last_modified': last_modified,
                         'fetched_at': fetched_at, 'status': status}, fetched_at) AS f
    FROM fetches WHERE kind = 'article' AND status IS NOT NULL
    GROUP BY url
), latest_fetch AS (
    SELECT url, f.etag, f.last_modified, f.fetched_at, f.status FROM latest
)
SELECT a.url, a.modified_at AS modified, a.labels, f.etag, f.last_modified
FROM articles a LEFT JOIN latest_fetch f ON f.url = a.url AND f.status IN (200, 304)
WHERE a.site = $site
UNION ALL
SELECT f.url, f.fetched_at, CAST([] AS VARCHAR[]), NULL, NULL
FROM latest_fetch f
WHERE (f.status IN (404, 410)
       OR f.url IN (SELECT url FROM quarantine WHERE released_at IS NULL))
  AND f.url NOT IN (SELECT url FROM articles)
  AND starts_with(f.url, $base_url);

-- name: completed_run
SELECT status FROM crawl_runs WHERE run_id = $run_id AND status = 'completed';

-- name: archived_responses
-- The newest archived 200 response of each article, optionally of one run or a publication
-- window: what reprocessing re-extracts.
SELECT f.url, f.warc_file, f.warc_offset, f.fetched_at, f.etag, f.last_modified,
       f.content_type
FROM fetches f
LEFT JOIN articles a ON a.url = f.url
WHERE f.kind = 'article' AND f.status = 200 AND f.warc_file IS NOT NULL
  AND f.outcome IS DISTINCT FROM 'failed'  -- not a page (a PDF, say)
  AND ($run_id IS NULL OR f.run_id = $run_id)
  AND ($since IS NULL OR a.published_at >= CAST($since AS TIMESTAMPTZ))
  AND ($until IS NULL OR a.published_at < CAST($until AS TIMESTAMPTZ))
  AND ($urls IS NULL OR list_contains($urls, f.url))
  AND starts_with(f.url, $base_url)
QUALIFY row_number() OVER (PARTITION BY f.url ORDER BY f.fetched_at DESC) = 1
ORDER BY f.warc_file, f.warc_offset;

-- name: recent_volume
-- The median number of articles of the site's last 10 completed runs of a mode.
SELECT median(discovered) FROM (
    SELECT discovered FROM crawl_runs
    WHERE site = $site AND mode = $mode AND status = 'completed'
    ORDER BY started_at DESC LIMIT 10);

-- name: recent_archives
-- The archive folders of the site's completed runs that started since a moment: what the
-- nightly quality flow verifies.
SELECT archive_dir FROM crawl_runs
WHERE site = $site AND status = 'completed' AND archive_dir <> ''
  AND started_at >= CAST($since AS TIMESTAMPTZ)
ORDER BY started_at;
