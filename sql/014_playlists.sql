-- Playlists written back to Spotify: one row per account and kind. 'own' is the
-- person's "Whose song is it? — for NAME"; 'shared' is the household's, in the
-- account of the person it is keyed by. The id is kept so that the same playlist
-- is rewritten every night, never a second one made.
CREATE TABLE playlists (
    person_id   bigint NOT NULL REFERENCES people ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('own', 'shared')),
    playlist_id text NOT NULL,
    songs       integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    written_at  timestamptz,
    PRIMARY KEY (person_id, kind)
);
