-- What the report and the exports read.

-- name: report_per_day
SELECT day, CAST(sum(articles) AS BIGINT) AS articles FROM articles_per_day GROUP BY day ORDER BY day;

-- name: report_top_tags
SELECT tag, count(*) AS articles FROM article_tags GROUP BY tag ORDER BY articles DESC, tag
LIMIT $limit;

-- name: report_tag_trend
SELECT week, tag, articles FROM tags_per_week
WHERE tag IN (SELECT tag FROM article_tags GROUP BY tag ORDER BY count(*) DESC, tag LIMIT $limit)
ORDER BY week, tag;

-- name: report_labels
SELECT label, CAST(sum(articles) AS BIGINT) AS articles FROM articles_per_label GROUP BY label
ORDER BY articles DESC;

-- name: report_languages
SELECT lang, count(*) AS articles FROM articles GROUP BY lang ORDER BY articles DESC;

-- name: report_quarantine_rate
-- The last $limit completed runs that discovered anything: a run that found nothing new has
-- no rate, and drawn as 0 % it would read as a perfect run.
SELECT run_id, started_at, discovered, quarantine_rate FROM (
    SELECT run_id, started_at, discovered, quarantine_rate FROM run_health
    WHERE status = 'completed' AND discovered > 0 ORDER BY started_at DESC LIMIT $limit)
ORDER BY started_at;

-- name: report_totals
SELECT count(*) AS articles, min(published_at) AS first, max(published_at) AS last,
       (SELECT count(*) FROM crawl_runs) AS runs,
       (SELECT count(*) FROM quarantine WHERE released_at IS NULL) AS held,
       -- the sites' one time zone, which the charts count days in; NULL when they differ
       (SELECT CASE WHEN count(DISTINCT timezone) = 1 THEN any_value(timezone) END
        FROM site_zones) AS timezone
FROM articles;
