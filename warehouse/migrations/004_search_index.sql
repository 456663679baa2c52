-- Full-text search that each load keeps current, in its own transaction, for the articles
-- it added or changed. It replaces DuckDB's fts index (PRAGMA create_fts_index), which can
-- only be rebuilt over the whole corpus: 11 s at 50,000 articles, after every run that
-- changed anything, and outside the load's transaction.
-- The tokenizer is the two macros below: words are runs of letters and digits, lower-cased
-- and without accents, then Porter-stemmed (the fts extension's `stem`). Changing them means
-- a migration that empties search_docs; the next load re-indexes every article.
DROP SCHEMA IF EXISTS fts_main_articles CASCADE;

CREATE MACRO search_words(text) AS regexp_extract_all(lower(strip_accents(text)), '[\pL\pN]+');
CREATE MACRO search_stem(word) AS stem(word, 'porter');

-- How often each term occurs in an article (title, subtitle and body together).
CREATE TABLE search_terms (
    article_id VARCHAR NOT NULL,
    term       VARCHAR NOT NULL,
    tf         INTEGER NOT NULL
);
-- The articles indexed, with their length in words (BM25 normalizes by it). No PRIMARY KEY:
-- DuckLake has none; the load deletes an article's row before it writes a new one.
CREATE TABLE search_docs (
    article_id VARCHAR NOT NULL,
    words      INTEGER NOT NULL
);

-- Articles ranked by BM25 (k1 = 1.2, b = 0.75, as DuckDB's fts) against `query`:
--   SELECT title, score FROM search_articles('air defense') JOIN articles USING (article_id)
--   ORDER BY score DESC LIMIT 10;
CREATE MACRO search_articles(query) AS TABLE
WITH query_terms AS (SELECT DISTINCT search_stem(unnest(search_words(query))) AS term),
corpus AS (SELECT count(*) AS docs, avg(words) AS avg_words FROM search_docs),
idf AS (
    SELECT term, ln((any_value(corpus.docs) - count(*) + 0.5) / (count(*) + 0.5) + 1) AS idf
    FROM search_terms JOIN query_terms USING (term), corpus
    GROUP BY term)
SELECT t.article_id,
       sum(idf.idf * t.tf * 2.2
           / (t.tf + 1.2 * (0.25 + 0.75 * d.words / corpus.avg_words))) AS score
FROM search_terms t JOIN idf USING (term) JOIN search_docs d USING (article_id), corpus
GROUP BY t.article_id;
