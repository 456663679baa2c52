-- Sources cited in article bodies: "according to Reuters", "Bloomberg reported",
-- "Bloomberg, citing its sources, reported", "as Politico reported", "The Guardian writes".
-- The outlets are a curated list: extend it as new ones appear in the corpus.
CREATE OR REPLACE VIEW sources AS
WITH outlets(source) AS (VALUES
    ('Reuters'), ('Bloomberg'), ('Associated Press'), ('AP'), ('AFP'), ('The Guardian'),
    ('Politico'), ('The Kyiv Independent'), ('Ukrainska Pravda'), ('Financial Times'),
    ('The New York Times'), ('The Washington Post'), ('The Wall Street Journal'), ('BBC'),
    ('CNN'), ('Axios'), ('Der Spiegel'), ('Le Monde'), ('Interfax-Ukraine'), ('Ukrinform'))
SELECT DISTINCT a.article_id, o.source
FROM articles a, outlets o
WHERE regexp_matches(a.body,
    '(?i:according to|citing|as) ' || o.source || '\b'
    || '|\b' || o.source || ',? (?:citing [^,.]*, )?(?:reported|reports|writes|wrote|said|says)\b');
