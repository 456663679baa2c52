-- What a fetch took and what it answered: the number of attempts (retries included) and the
-- Content-Type, so that transient failures that were recovered, and non-HTML answers, show.
ALTER TABLE fetches ADD COLUMN content_type VARCHAR;
ALTER TABLE fetches ADD COLUMN attempts INTEGER;
