"""The compose deployment's database roles, and SQL that only ever carries user input as data.

A PostgreSQL cluster of this module's own is set up the way `docker compose`
sets up its server: a superuser `taste` with its database, then
`docker/postgres-init.sh` (run with psql, as the postgres image runs it),
then `python -m taskcode db migrate` as `taste`. The pipeline fills it as
`taste`, with a person whose name is an SQL injection. Then the dashboard's
role must read every table, even those created after the init script ran,
and must not be able to change anything; and names and track references
full of quotes, semicolons and `'); DROP TABLE likes; --` must stay data in
`authorize --user`, `sync --user`, `predict` and the dashboard's search.
"""

from __future__ import annotations

import os
import secrets
import subprocess

import psycopg2
import pytest
from psycopg2 import sql

from emulator import Emulator, generate
from taskcode import db, embed, predict, promotion, queries, registry, train
from taskcode.config import load_settings
from tests.conftest import PROJECT_ROOT, run_cli
from tests.dashboard.conftest import APP
from tests.reliability.conftest import CONFIG, cli_env, one_line_error, rows

pytestmark = pytest.mark.slow

EVIL = """Bob "the DJ" O'Brien'); DROP TABLE likes; --"""
EVIL_REFERENCES = ["'); DROP TABLE likes; --", "x' OR '1'='1", 'spotify:track:"; DELETE FROM tracks; --']


@pytest.fixture(scope="module")
def deployment(spare_cluster, tmp_path_factory):
    admin = spare_cluster.ensure_running()
    host = admin.rsplit("@", 1)[1].rsplit("/", 1)[0]
    taste_password, dashboard_password = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:  # what the postgres image does with POSTGRES_USER / POSTGRES_DB
        cur.execute(sql.SQL("CREATE ROLE taste LOGIN SUPERUSER PASSWORD {}").format(sql.Literal(taste_password)))
        cur.execute("CREATE DATABASE taste OWNER taste")
    conn.close()
    init = subprocess.run(
        ["bash", str(PROJECT_ROOT / "docker" / "postgres-init.sh")],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "POSTGRES_USER": "taste",
            "POSTGRES_DB": "taste",
            "DASHBOARD_PASSWORD": dashboard_password,
            "PGHOST": host.split(":")[0],
            "PGPORT": host.split(":")[1],
            "PGPASSWORD": taste_password,
        },
    )
    assert init.returncode == 0, init.stderr
    taste_url = f"postgresql://taste:{taste_password}@{host}/taste"
    dashboard_url = f"postgresql://taste_dashboard:{dashboard_password}@{host}/taste"

    folder = tmp_path_factory.mktemp("deployment")
    library = generate(people=2, tracks=60, seed=5, catalog_extra=40)
    library.write_catalog(folder / "catalog.csv")
    config = folder / "config.yml"
    config.write_text(CONFIG + f"paths:\n  catalog_csv: {folder / 'catalog.csv'}\n")
    with Emulator(library) as emulator:
        env = cli_env(emulator, taste_url, config)
        for command in (
            ["db", "migrate"],
            ["authorize", "--user", "alice", "--refresh-token", emulator.refresh_token("alice")],
            ["authorize", "--user", EVIL, "--refresh-token", emulator.refresh_token("bob")],
            ["sync", "--user", EVIL, "--user", "alice"],
        ):
            result = run_cli(*command, env=env)
            assert result.returncode == 0, (command, result.stderr)
        settings = load_settings(config, env={"DATABASE_URL": taste_url})
        with db.connection(settings) as conn:
            version = train.train(settings, conn).version
            promotion.evaluate_and_promote(settings, conn, version)
            if registry.champion(conn) is None:  # these tests are about roles, not the gate
                with db.transaction(conn) as cur:
                    registry.move_champion(cur, version, None)
            embed.embed(settings, conn)
            predict.store_discoveries(settings, conn, top=5)
            with db.transaction(conn) as cur:  # a migration of the future, run by `taste` after the init
                cur.execute("CREATE TABLE later_migration (id integer PRIMARY KEY, note text)")
                cur.execute("INSERT INTO later_migration VALUES (1, 'made after the init script')")
        yield {"taste": taste_url, "dashboard": dashboard_url, "env": env, "library": library, "emulator": emulator}


def tables(url: str) -> list[str]:
    return [name for (name,) in rows(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]


def counts(url: str, names: list[str] | None = None) -> dict[str, int]:
    return {
        table: rows(url, sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))[0][0]
        for table in (names or tables(url))
    }


def test_the_dashboard_role_reads_every_table_even_ones_made_after_the_init(deployment):
    owned = tables(deployment["taste"])
    assert {"schema_migrations", "later_migration", *queries.TABLES} <= set(owned)
    assert tables(deployment["dashboard"]) == owned
    readable = [t for t in owned if t != "spotify_tokens"]
    assert {t: counts(deployment["dashboard"], [t])[t] for t in readable} == {
        t: counts(deployment["taste"], [t])[t] for t in readable
    }

    with queries.read_only(deployment["dashboard"]) as conn:  # the dashboard's own questions, as its role
        assert queries.missing_tables(conn) == []
        people = queries.people(conn).set_index("person")
        assert people.loc[EVIL, "likes"] == len(deployment["library"].likes_of("bob"))
        champion = queries.champion(conn)
        assert EVIL in champion["people"]
        maps = queries.newest_maps(conn)
        points = queries.map_points(conn, int(maps.iloc[0]["map_id"]))
        assert len(points) == rows(deployment["taste"], "SELECT count(*) FROM audio_features")[0][0]
        song = points[points["owners"].map(lambda owners: owners == [EVIL])].iloc[0]
        assert queries.track(conn, song["track_id"])["owners"] == [EVIL]
        assert EVIL in queries.prediction(conn, song["track_id"], champion["version"])["probabilities"]
        assert EVIL in set(queries.discoveries(conn, champion["version"])["person"])
        assert not queries.model_versions(conn).empty and not queries.recent_runs(conn).empty
        assert EVIL in set(queries.feature_coverage(conn)["person"])


def test_the_dashboard_role_cannot_read_credentials(deployment):
    """Refresh tokens and people's app secrets stay with the pipeline's own role."""
    assert rows(deployment["taste"], "SELECT count(*) FROM spotify_tokens")[0][0] == 2
    for statement in (
        "SELECT token_info FROM spotify_tokens",
        "SELECT client_secret FROM people",
        "SELECT * FROM people",
    ):
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            rows(deployment["dashboard"], statement)
    assert rows(deployment["dashboard"], "SELECT name FROM people ORDER BY name")[0][0] in ("alice", EVIL)


def test_the_dashboard_role_cannot_change_anything(deployment):
    before = counts(deployment["taste"])
    conn = psycopg2.connect(deployment["dashboard"])
    try:

        def refused(statement, error) -> None:
            with conn.cursor() as cur:
                with pytest.raises(error):
                    cur.execute(statement)
            conn.rollback()

        # The role's sessions are read-only by default...
        refused("DELETE FROM likes", psycopg2.errors.ReadOnlySqlTransaction)
        # ...and when a session turns that off, the privileges still say no.
        with conn.cursor() as cur:
            cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
        conn.commit()
        for table in tables(deployment["taste"]):
            name = sql.Identifier(table)
            [(column,)] = rows(
                deployment["taste"],
                """SELECT column_name FROM information_schema.columns
                                                       WHERE table_name = %s AND ordinal_position = 1""",
                (table,),
            )
            for statement in (
                sql.SQL("INSERT INTO {} DEFAULT VALUES").format(name),
                sql.SQL("UPDATE {} SET {} = {}").format(name, sql.Identifier(column), sql.Identifier(column)),
                sql.SQL("DELETE FROM {}").format(name),
                sql.SQL("TRUNCATE {}").format(name),
                sql.SQL("ALTER TABLE {} ADD COLUMN sneaky integer").format(name),
                sql.SQL("DROP TABLE {}").format(name),
            ):
                refused(statement, psycopg2.errors.InsufficientPrivilege)
        refused("CREATE TABLE public.sneaky (id integer)", psycopg2.errors.InsufficientPrivilege)
        refused(
            "CREATE FUNCTION public.sneaky() RETURNS int LANGUAGE sql AS 'SELECT 1'",
            psycopg2.errors.InsufficientPrivilege,
        )
    finally:
        conn.close()
    assert counts(deployment["taste"]) == before


def test_names_and_track_references_full_of_sql_are_only_data(deployment):
    env, before = deployment["env"], counts(deployment["taste"])
    assert rows(deployment["taste"], "SELECT count(*) FROM people WHERE name = %s", (EVIL,)) == [(1,)]

    again = run_cli("sync", "--user", EVIL, env=env)
    assert again.returncode == 0, again.stderr
    assert f"{EVIL}: 0 new, 0 removed, 1 page(s)" in again.stdout
    stranger = run_cli("sync", "--user", "Robert'); DROP TABLE people; --", env=env)
    assert 'no person named "Robert\'); DROP TABLE people; --"' in one_line_error(stranger, 1)
    refused = run_cli(
        "authorize",
        "--user",
        "Eve'; DELETE FROM spotify_tokens; --",
        "--refresh-token",
        "'); DROP TABLE likes; --",
        env=env,
    )
    assert "authorize --user Eve'; DELETE FROM spotify_tokens; --" in one_line_error(refused, 5)

    [(known,)] = rows(
        deployment["taste"],
        """SELECT l.track_id FROM likes l JOIN people p USING (person_id)
                                               JOIN audio_features USING (track_id)
                                              WHERE p.name = %s ORDER BY 1 LIMIT 1""",
        (EVIL,),
    )
    answer = run_cli("predict", *EVIL_REFERENCES, known, env=env)
    assert "error: predict: not a Spotify track: " in one_line_error(answer, 2)  # the known one is still answered:
    assert answer.stdout.count("not a Spotify track id, spotify:track: URI or open.spotify.com track URL") == 3
    assert f"liked by {EVIL}" in answer.stdout
    assert counts(deployment["taste"]) == before | {"runs": before["runs"] + 1}  # one sync ran; nothing else


def test_the_dashboard_searches_for_sql_as_text(deployment, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("DATABASE_URL", deployment["dashboard"])  # the dashboard's own, read-only role
    before = counts(deployment["taste"])

    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert EVIL in at.multiselect(key="map_people").options
    for needle in (*EVIL_REFERENCES, EVIL):
        at.text_input(key="map_search").input(needle).run()
        assert not at.exception, [e.value for e in at.exception]
        assert any("No song or artist on this map matches" in w.value for w in at.warning), needle

    at.switch_page("page_predict.py").run()
    for reference in EVIL_REFERENCES:
        at.text_input(key="predict_ref").input(reference).run()
        assert not at.exception, [e.value for e in at.exception]
        assert any("not a Spotify track link" in w.value for w in at.warning), reference
    assert counts(deployment["taste"]) == before
