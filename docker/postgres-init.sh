#!/bin/bash
# First start of the compose PostgreSQL: Airflow's metadata database beside the
# app's, and a read-only role for the dashboard (it may look, never write).
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v dashboard_password="$DASHBOARD_PASSWORD" <<'SQL'
CREATE DATABASE airflow OWNER taste;
CREATE ROLE taste_dashboard LOGIN PASSWORD :'dashboard_password';
ALTER ROLE taste_dashboard SET default_transaction_read_only = on;
GRANT CONNECT ON DATABASE taste TO taste_dashboard;
GRANT USAGE ON SCHEMA public TO taste_dashboard;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO taste_dashboard;
-- Tables that migrations create later are readable too (they are created by `taste`).
ALTER DEFAULT PRIVILEGES FOR ROLE taste IN SCHEMA public GRANT SELECT ON TABLES TO taste_dashboard;
SQL
