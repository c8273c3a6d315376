-- What the champion/challenger registry needs beyond 001.

-- The test set a version was measured on (track ids and their true owners),
-- so the champion can be measured again on exactly the challenger's songs.
ALTER TABLE model_versions ADD COLUMN test_set jsonb NOT NULL DEFAULT '{}';

-- The champion a version replaced when it was promoted: `model rollback`
-- walks this chain back, one promotion at a time.
ALTER TABLE model_versions ADD COLUMN replaces integer REFERENCES model_versions;
