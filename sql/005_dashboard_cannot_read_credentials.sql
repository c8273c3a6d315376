-- The dashboard's read-only role (docker/postgres-init.sh grants it SELECT on
-- every table) must not read credentials: the refresh tokens, and the people's
-- own app secrets. Where the role does not exist (the embedded default), nothing to do.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'taste_dashboard') THEN
        REVOKE ALL ON spotify_tokens FROM taste_dashboard;
        REVOKE ALL ON people FROM taste_dashboard;
        GRANT SELECT (person_id, name, spotify_user_id, display_name, created_at) ON people TO taste_dashboard;
    END IF;
END
$$;
