-- Articles per publication week (weeks start on Monday, Kyiv time), by section and language.
CREATE OR REPLACE VIEW articles_per_week AS
SELECT CAST(date_trunc('week', published_at AT TIME ZONE 'Europe/Kyiv') AS DATE) AS week,
       section, lang, count(*) AS articles
FROM articles
GROUP BY ALL;
