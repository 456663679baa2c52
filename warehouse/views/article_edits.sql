-- Edits: how many versions each article has, and how long after publication it was first
-- updated (by the site's modified times; NULL if never updated).
CREATE OR REPLACE VIEW article_edits AS
WITH all_versions AS (
    SELECT article_id, version, modified_at FROM article_versions
    UNION ALL
    SELECT article_id, version, modified_at FROM articles),
first_update AS (
    SELECT article_id, min(modified_at) AS first_update_at
    FROM all_versions WHERE version >= 2 GROUP BY article_id)
SELECT a.article_id, a.url, a.title, a.published_at, a.version AS versions,
       f.first_update_at - a.published_at AS time_to_first_update
FROM articles a LEFT JOIN first_update f USING (article_id);
