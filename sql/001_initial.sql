-- The whole data model of "whose song is it?".
-- Keys make duplicates impossible: a re-run can only update, never add twice.

-- People whose liked songs we learn from. Credentials are per person because
-- a development-mode Spotify app admits at most five users.
CREATE TABLE people (
    person_id       bigserial PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (length(btrim(name)) > 0),
    spotify_user_id text UNIQUE,
    display_name    text,
    client_id       text,
    client_secret   text,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- spotipy's token dict, kept here (not in a .cache file) so any container can sync.
CREATE TABLE spotify_tokens (
    person_id  bigint PRIMARY KEY REFERENCES people ON DELETE CASCADE,
    token_info jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per Spotify track, whoever likes it. Every field but the id is optional.
CREATE TABLE tracks (
    track_id      text PRIMARY KEY,
    name          text,
    artists       text[] NOT NULL DEFAULT '{}',
    artist_ids    text[] NOT NULL DEFAULT '{}',
    album_id      text,
    album_name    text,
    release_date  text,
    release_year  integer,
    duration_ms   integer,
    explicit      boolean,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Who likes what. A like gone from Spotify keeps its row with removed_at set,
-- so that history (and the model's labels) never silently disappear.
CREATE TABLE likes (
    person_id       bigint NOT NULL REFERENCES people ON DELETE CASCADE,
    track_id        text NOT NULL REFERENCES tracks,
    added_at        timestamptz NOT NULL,
    removed_at      timestamptz,
    first_synced_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (person_id, track_id)
);
CREATE INDEX likes_track_idx ON likes (track_id);
CREATE INDEX likes_current_idx ON likes (person_id, added_at DESC) WHERE removed_at IS NULL;

-- Audio features, with the source that gave them (spotify, reccobeats, csv).
CREATE TABLE audio_features (
    track_id         text PRIMARY KEY REFERENCES tracks,
    source           text NOT NULL,
    danceability     double precision,
    energy           double precision,
    key              integer,
    loudness         double precision,
    mode             integer,
    speechiness      double precision,
    acousticness     double precision,
    instrumentalness double precision,
    liveness         double precision,
    valence          double precision,
    tempo            double precision,
    time_signature   integer,
    duration_ms      integer,
    fetched_at       timestamptz NOT NULL DEFAULT now()
);

-- Tracks no source knew: asked again only after features.retry_unknown_after_days.
CREATE TABLE feature_misses (
    track_id      text PRIMARY KEY REFERENCES tracks,
    last_tried_at timestamptz NOT NULL,
    tries         integer NOT NULL DEFAULT 1
);

-- The incremental cursor of each person: newest added_at stored, and the
-- track ids that share it (ties), advanced in the same transaction as the likes.
CREATE TABLE sync_state (
    person_id          bigint PRIMARY KEY REFERENCES people ON DELETE CASCADE,
    watermark_added_at timestamptz,
    watermark_track_ids text[] NOT NULL DEFAULT '{}',
    last_sync_at       timestamptz,
    last_full_sync_at  timestamptz
);

-- One row per command run (sync, features, train, embed), with its summary.
CREATE TABLE runs (
    run_id      bigserial PRIMARY KEY,
    kind        text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    status      text NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
    summary     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX runs_kind_idx ON runs (kind, started_at DESC);

-- The model registry: numbered versions, like MLflow's.
CREATE TABLE model_versions (
    version          serial PRIMARY KEY,
    created_at       timestamptz NOT NULL DEFAULT now(),
    status           text NOT NULL DEFAULT 'candidate'
                     CHECK (status IN ('candidate', 'champion', 'rejected', 'retired')),
    people           text[] NOT NULL,
    config           jsonb NOT NULL,
    data_fingerprint text NOT NULL,
    metrics          jsonb NOT NULL DEFAULT '{}',
    baselines        jsonb NOT NULL DEFAULT '{}',
    decision         text,
    training_seconds double precision,
    artifact         bytea NOT NULL
);
-- At most one champion, whatever goes wrong.
CREATE UNIQUE INDEX model_versions_one_champion ON model_versions ((true)) WHERE status = 'champion';

-- Movable names for versions; 'champion' is the one the pipeline serves.
CREATE TABLE model_aliases (
    alias      text PRIMARY KEY,
    version    integer NOT NULL REFERENCES model_versions,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A 2-D map of one model version's last hidden layer. Readers only look at
-- complete maps; points and the complete flag are written in one transaction.
CREATE TABLE maps (
    map_id        serial PRIMARY KEY,
    model_version integer NOT NULL REFERENCES model_versions,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    complete      boolean NOT NULL DEFAULT false,
    params        jsonb NOT NULL DEFAULT '{}',
    state         bytea
);
CREATE INDEX maps_version_idx ON maps (model_version, map_id DESC);

CREATE TABLE map_points (
    map_id        integer NOT NULL REFERENCES maps ON DELETE CASCADE,
    track_id      text NOT NULL REFERENCES tracks,
    x             double precision NOT NULL,
    y             double precision NOT NULL,
    hidden        real[] NOT NULL,
    probabilities real[] NOT NULL,
    owners        text[] NOT NULL DEFAULT '{}',
    predicted     text NOT NULL,
    out_of_place  boolean NOT NULL DEFAULT false,
    confidence    double precision NOT NULL,
    placed        text NOT NULL DEFAULT 'fit' CHECK (placed IN ('fit', 'transform')),
    added_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (map_id, track_id)
);
