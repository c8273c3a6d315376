-- When each person authorized the project: Spotify's refresh tokens expire a fixed
-- time after the original authorization (six months since 2026-07-20), and
-- refreshing does not extend them. Set by `authorize` (each way in), never by a
-- refresh. NULL for people who authorized before this column existed: nobody
-- recorded it, so their expiry is unknown until they authorize again.
ALTER TABLE people ADD COLUMN IF NOT EXISTS authorized_at timestamptz;

-- The dashboard warns before a token expires: it may read the date, and whether a
-- token is stored (the person_id column only, never token_info).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'taste_dashboard') THEN
        GRANT SELECT (authorized_at) ON people TO taste_dashboard;
        GRANT SELECT (person_id) ON spotify_tokens TO taste_dashboard;
    END IF;
END
$$;
