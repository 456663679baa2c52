-- Articles per publication day (Kyiv time), by section and language.
CREATE OR REPLACE VIEW articles_per_day AS
SELECT CAST(published_at AT TIME ZONE 'Europe/Kyiv' AS DATE) AS day, section, lang,
       count(*) AS articles
FROM articles
GROUP BY ALL;
