-- Articles per publication day (site time), by section and language.
CREATE OR REPLACE VIEW articles_per_day AS
SELECT CAST(published_local AS DATE) AS day, section, lang,
       count(*) AS articles
FROM articles_local
GROUP BY ALL;
