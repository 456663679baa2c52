-- Each site's time zone, kept by every load from its profile, so that views, exports and search
-- show days and hours in the site's own time (a corpus may hold sites of several zones).
-- A corpus loaded before this migration shows UTC until its next load of each site.
CREATE TABLE site_zones (
    site      VARCHAR NOT NULL,
    timezone  VARCHAR NOT NULL   -- IANA name, e.g. Europe/Kyiv
);
