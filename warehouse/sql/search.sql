-- Full-text search over the corpus: BM25 over the index each load keeps current
-- (search_articles, migration 004).

-- name: search
SELECT a.url, a.title, a.published_at, s.score, a.body
FROM search_articles($query) s JOIN articles a USING (article_id)
WHERE $since IS NULL OR a.published_at >= CAST($since AS TIMESTAMPTZ)
ORDER BY s.score DESC, a.published_at DESC
LIMIT $limit;
