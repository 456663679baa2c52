-- Corpus health per run: the quarantine rate, and the share of the run's loaded articles
-- missing a subtitle, an image, tags or JSON-LD.
CREATE OR REPLACE VIEW run_health AS
SELECT r.run_id, r.mode, r.status, r.started_at, r.discovered, r.quarantined,
       r.quarantined / nullif(r.discovered, 0) AS quarantine_rate,
       avg(CASE WHEN a.subtitle IS NULL THEN 1 ELSE 0 END) AS missing_subtitle,
       avg(CASE WHEN a.image_url IS NULL THEN 1 ELSE 0 END) AS missing_image,
       avg(CASE WHEN len(a.tags) = 0 THEN 1 ELSE 0 END) AS missing_tags,
       avg(CASE WHEN NOT a.has_jsonld THEN 1 ELSE 0 END) AS missing_jsonld
FROM crawl_runs r
LEFT JOIN fetches f ON f.run_id = r.run_id AND f.outcome IN ('new', 'updated', 'unchanged')
LEFT JOIN articles a ON a.article_id = f.article_id
GROUP BY ALL;
