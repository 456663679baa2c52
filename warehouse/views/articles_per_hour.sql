-- Articles per hour of the day they were published, in Kyiv time (0-23).
CREATE OR REPLACE VIEW articles_per_hour AS
SELECT hour(published_at AT TIME ZONE 'Europe/Kyiv') AS hour, count(*) AS articles
FROM articles
GROUP BY ALL;
