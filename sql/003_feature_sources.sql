-- A feature source that refused us for good (Spotify's /audio-features answers
-- 403 to apps created after 2024-11-27) is not asked again until this time,
-- so that a nightly run does not spend a call on a known refusal.
CREATE TABLE feature_source_state (
    source            text PRIMARY KEY,
    unavailable_until timestamptz NOT NULL,
    reason            text NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
