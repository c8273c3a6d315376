-- For each other: besides catalog songs, a person's discoveries include the
-- household's songs that others like and they do not (`source` 'household',
-- `owners` the people who like it). `probabilities` holds the version's answer
-- for every person (in `model_versions.people` order), so "Whose song is it?"
-- can answer a discovered song that is on no map. A song may be both a
-- household pick and a catalog song for the same person, hence the key.
ALTER TABLE discoveries
    ADD COLUMN source text NOT NULL DEFAULT 'catalog' CHECK (source IN ('household', 'catalog')),
    ADD COLUMN owners text[] NOT NULL DEFAULT '{}',
    ADD COLUMN probabilities real[];
ALTER TABLE discoveries DROP CONSTRAINT discoveries_pkey;
ALTER TABLE discoveries ADD PRIMARY KEY (model_version, source, person, track_id);
CREATE INDEX discoveries_track ON discoveries (model_version, track_id);
