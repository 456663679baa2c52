-- How much of published_at the page gave: 'time', or 'day' where it printed its day only
-- (the generic profile's day-only layers). A 'day' row's published_at is that day's midnight
-- in the site's zone: not a time of publication, and left out of counts by hour.
ALTER TABLE articles ADD COLUMN published_precision VARCHAR;
ALTER TABLE articles_staging ADD COLUMN published_precision VARCHAR;
-- Rows loaded before: only the day-only layers can have given a day, and whether they did is
-- not known from the row. They stay NULL ("not recorded") until a run sees them again.
UPDATE articles SET published_precision = 'time'
WHERE published_at IS NOT NULL
  AND coalesce(json_extract_string(provenance, '$.published_at'), '')
      NOT IN ('textdate', 'htmldate');
