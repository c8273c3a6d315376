-- Discover: each person's top catalog songs they have not liked yet, as
-- ranked by one model version. The pipeline writes a version's rows; the
-- dashboard only reads them. Name and artists are copied from the catalog
-- file, because catalog songs are usually not in `tracks`.
CREATE TABLE discoveries (
    model_version integer REFERENCES model_versions,
    person        text,
    track_id      text,
    name          text,
    artists       text,
    probability   real,
    rank          integer,
    PRIMARY KEY (model_version, person, track_id)
);
