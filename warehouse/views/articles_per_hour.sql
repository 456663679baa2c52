-- Articles per hour of the day they were published, in site time (0-23). Articles whose page
-- gave only its day (published_precision 'day') have no hour and are not counted.
CREATE OR REPLACE VIEW articles_per_hour AS
SELECT hour(published_local) AS hour, count(*) AS articles
FROM articles_local
WHERE published_precision IS DISTINCT FROM 'day'
GROUP BY ALL;
