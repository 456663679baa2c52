-- Articles per publication week and editorial label ("Exclusive", "Review", "Updated", …).
-- An article with several labels counts once per label; one without labels is not counted.
CREATE OR REPLACE VIEW articles_per_label AS
SELECT CAST(date_trunc('week', published_local) AS DATE) AS week,
       label, count(*) AS articles
FROM (SELECT published_local, unnest(labels) AS label FROM articles_local)
GROUP BY ALL;
