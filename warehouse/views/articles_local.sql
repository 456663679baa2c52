-- The articles with their publication time in the site's own time zone (`published_local`, a
-- TIMESTAMP without zone): what the other views count days, weeks and hours by.
CREATE OR REPLACE VIEW articles_local AS
SELECT a.*, timezone(coalesce(z.timezone, 'UTC'), a.published_at) AS published_local,
       coalesce(z.timezone, 'UTC') AS site_timezone
FROM articles a LEFT JOIN site_zones z USING (site);
