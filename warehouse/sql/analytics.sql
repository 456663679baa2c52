-- What the report and the exports read.

-- name: report_per_day
SELECT day, sum(articles) AS articles FROM articles_per_day GROUP BY day ORDER BY day;

-- name: report_top_tags
SELECT tag, count(*) AS articles FROM article_tags GROUP BY tag ORDER BY articles DESC, tag
LIMIT $limit;

-- name: report_tag_trend
SELECT week, tag, articles FROM tags_per_week
WHERE tag IN (SELECT tag FROM article_tags GROUP BY tag ORDER BY count(*) DESC, tag LIMIT $limit)
ORDER BY week, tag;

-- name: report_labels
SELECT label, sum(articles) AS articles FROM articles_per_label GROUP BY label
ORDER BY articles DESC;

-- name: report_languages
SELECT lang, count(*) AS articles FROM articles GROUP BY lang ORDER BY articles DESC;

-- name: report_quarantine_rate
SELECT run_id, started_at, coalesce(quarantine_rate, 0) AS quarantine_rate FROM run_health
WHERE status = 'completed' ORDER BY started_at;

-- name: report_totals
SELECT count(*) AS articles, min(published_at) AS first, max(published_at) AS last,
       (SELECT count(*) FROM crawl_runs) AS runs,
       (SELECT count(*) FROM quarantine WHERE released_at IS NULL) AS held
FROM articles;
