-- Tags rising in the last 7 days before the newest article, against the 7 days before those.
-- growth is (last - previous) / greatest(previous, 1); new tags rise from 0.
CREATE OR REPLACE VIEW rising_tags AS
WITH newest AS (SELECT max(published_at) AS at FROM articles),
counts AS (
    SELECT t.tag,
           count(*) FILTER (WHERE a.published_at > n.at - INTERVAL 7 DAY) AS last_7_days,
           count(*) FILTER (WHERE a.published_at <= n.at - INTERVAL 7 DAY
                              AND a.published_at > n.at - INTERVAL 14 DAY) AS previous_7_days
    FROM article_tags t JOIN articles a USING (article_id) CROSS JOIN newest n
    GROUP BY t.tag)
SELECT tag, last_7_days, previous_7_days,
       (last_7_days - previous_7_days) / greatest(previous_7_days, 1) AS growth
FROM counts
WHERE last_7_days > previous_7_days;
