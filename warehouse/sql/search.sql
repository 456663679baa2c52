-- Full-text search over the corpus (DuckDB's fts extension, BM25).

-- name: create_search_index
PRAGMA create_fts_index('articles', 'article_id', 'title', 'subtitle', 'body', overwrite = 1);

-- name: search
SELECT url, title, published_at, score, body FROM (
    SELECT *, fts_main_articles.match_bm25(article_id, $query) AS score FROM articles)
WHERE score IS NOT NULL
  AND ($since IS NULL OR published_at >= CAST($since AS TIMESTAMPTZ))
ORDER BY score DESC
LIMIT $limit;

-- name: has_search_index
SELECT count(*) > 0 FROM duckdb_tables() WHERE schema_name = 'fts_main_articles';
