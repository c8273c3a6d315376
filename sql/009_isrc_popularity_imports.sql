-- What Spotify still says about a track in 2026 (the ISRC), what ReccoBeats adds
-- (the popularity Spotify removed), and likes that came from an account data export.

-- ISRC: from the track object's external_ids, or from ReccoBeats when Spotify gave none
-- (an imported song). It matches a catalog row whose Spotify id differs (a relinked release).
ALTER TABLE tracks ADD COLUMN isrc text;
CREATE INDEX tracks_isrc_idx ON tracks (isrc) WHERE isrc IS NOT NULL;

-- Popularity 0-100 from ReccoBeats' track records, when it knows the track.
ALTER TABLE tracks ADD COLUMN popularity smallint CHECK (popularity BETWEEN 0 AND 100);

-- When ReccoBeats was last asked about the track: a track it does not know is
-- asked again only after features.retry_unknown_after_days, not every night.
ALTER TABLE tracks ADD COLUMN info_checked_at timestamptz;

-- Where a like came from: 'spotify' (a sync) or 'export' (`import` of a
-- "Download your data" export, which has no date: added_at is the import time).
ALTER TABLE likes ADD COLUMN source text NOT NULL DEFAULT 'spotify' CHECK (source IN ('spotify', 'export'));
