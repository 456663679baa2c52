-- Tags per publication week with their rank in that week (1 = most used; ties share a rank).
-- Top tags of each week: WHERE rank <= 10.
CREATE OR REPLACE VIEW tags_per_week AS
SELECT week, tag, articles, rank() OVER (PARTITION BY week ORDER BY articles DESC) AS rank
FROM (
    SELECT CAST(date_trunc('week', a.published_local) AS DATE) AS week,
           t.tag, count(*) AS articles
    FROM article_tags t JOIN articles_local a USING (article_id)
    GROUP BY ALL);
