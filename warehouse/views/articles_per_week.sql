-- Articles per publication week (weeks start on Monday, site time), by section and language.
CREATE OR REPLACE VIEW articles_per_week AS
SELECT CAST(date_trunc('week', published_local) AS DATE) AS week,
       section, lang, count(*) AS articles
FROM articles_local
GROUP BY ALL;
