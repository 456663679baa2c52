-- Authors, from JSON-LD, meta tags, the profile's byline selector or rel=author links.
-- Added columns come last; statements name their columns, so the order does not matter.
ALTER TABLE articles ADD COLUMN authors VARCHAR[];
ALTER TABLE articles_staging ADD COLUMN authors VARCHAR[];
