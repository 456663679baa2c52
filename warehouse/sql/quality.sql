-- What the quality commands and the data docs read.

-- name: last_runs
SELECT run_id, site, mode, status, started_at, discovered, fetched, new, updated, unchanged,
       quarantined, failed, not_modified, error
FROM crawl_runs ORDER BY started_at DESC LIMIT $limit;

-- name: run_validation
SELECT v.run_id, v.suite, v.expectation, v."column", v.severity, v.success,
       v.unexpected_count, round(v.unexpected_percent, 2) AS unexpected_percent, v.sample_ids,
       v.reason
FROM validation_results v
WHERE v.run_id IN (SELECT run_id FROM crawl_runs ORDER BY started_at DESC LIMIT $limit)
ORDER BY v.run_id DESC, v.severity, v.success, v.suite, v.expectation, v."column", v.reason;

-- name: sample_rows
-- The URL and title of failing rows, from the corpus or from the quarantine.
SELECT article_id, url, title FROM articles WHERE list_contains($ids, article_id)
UNION ALL
SELECT article_id, url, record ->> 'title' FROM quarantine
WHERE list_contains($ids, article_id) AND article_id NOT IN (SELECT article_id FROM articles);

-- name: quarantine_list
SELECT q.run_id, q.url, q.reasons, q.quarantined_at, q.released_at, q.released_by
FROM quarantine q
WHERE $all OR q.released_at IS NULL
ORDER BY q.quarantined_at DESC, q.url;

-- name: quarantine_show
SELECT run_id, url, reasons, record, quarantined_at, released_at, released_by
FROM quarantine WHERE url = $key OR article_id = $key
ORDER BY quarantined_at DESC;

-- name: quarantined_urls
SELECT DISTINCT url FROM quarantine
WHERE released_at IS NULL AND ($urls IS NULL OR list_contains($urls, url)) ORDER BY url;

-- name: stored_articles
-- The corpus as a batch again, for `newscorpus validate`.
SELECT * EXCLUDE (version, version_seen_at, first_seen_at, last_seen_at, last_run_id, site)
FROM articles
WHERE site = $site AND ($run_id IS NULL OR last_run_id = $run_id);

-- name: latest_base_url
SELECT base_url FROM crawl_runs WHERE site = $site ORDER BY started_at DESC LIMIT 1;
