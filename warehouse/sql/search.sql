-- Full-text search over the corpus: BM25 over the index each load keeps current
-- (search_articles, migration 004).

-- name: search
-- `since` is a day of the site's own time (articles_local).
SELECT a.url, a.title, a.published_at, a.published_local, a.site_timezone, s.score, a.body
FROM search_articles($query) s JOIN articles_local a USING (article_id)
WHERE CAST($since AS DATE) IS NULL OR CAST(a.published_local AS DATE) >= CAST($since AS DATE)
ORDER BY s.score DESC, a.published_at DESC
LIMIT $limit;
