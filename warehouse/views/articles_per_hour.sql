-- Articles per hour of the day they were published, in site time (0-23).
CREATE OR REPLACE VIEW articles_per_hour AS
SELECT hour(published_local) AS hour, count(*) AS articles
FROM articles_local
GROUP BY ALL;
