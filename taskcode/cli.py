"""`python -m taskcode …`: every stage of the pipeline from the command line.

Expected faults (bad config, no database, revoked credentials, rate limits)
end with one line on stderr and a non-zero exit code; a traceback means a bug.
Heavy libraries (TensorFlow, openTSNE) are imported only by the commands
that need them, so `status` stays fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

import psycopg2

from taskcode import db
from taskcode.config import Settings, load_settings
from taskcode.errors import TaskcodeError, UsageError
from taskcode.log import setup_logging

log = logging.getLogger("taskcode")


# -- commands -----------------------------------------------------------------


def cmd_db_migrate(settings: Settings, args) -> int:
    with db.connection(settings) as conn:
        applied = db.migrate(conn)
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else "; the database is up to date"))
    return 0


def cmd_db_stop(settings: Settings, args) -> int:
    if not settings.database.embedded:
        print("DATABASE_URL is set: that server is not ours to stop")
        return 0
    from taskcode.localpg import LocalCluster

    stopped = LocalCluster(settings.paths.data_dir).stop()
    print("stopped the local PostgreSQL" if stopped else "the local PostgreSQL was not running")
    return 0


def cmd_status(settings: Settings, args) -> int:
    from taskcode.status import format_status, status

    with db.connection(settings) as conn:
        db.migrate(conn)
        report = status(conn)
    print(json.dumps(report, indent=2, sort_keys=True) if args.json else format_status(report))
    return 0


def cmd_authorize(settings: Settings, args) -> int:
    from taskcode.authorize import authorize

    if args.client_id and not args.client_secret:
        import getpass

        try:
            args.client_secret = getpass.getpass(f"client secret of the app {args.client_id}: ")
        except EOFError:
            raise TaskcodeError("authorize: --client-id needs its secret (typed at the prompt)") from None
    with db.connection(settings) as conn:
        db.migrate(conn)
        profile = authorize(
            settings, conn, args.user, refresh_token=args.refresh_token, cache_file=args.cache_file,
            client_id=args.client_id, client_secret=args.client_secret,
        )
    print(f"authorized {args.user}: Spotify user {profile.get('id')} ({profile.get('display_name') or 'no display name'})")
    return 0


def cmd_sync(settings: Settings, args) -> int:
    from taskcode import sync

    with db.connection(settings) as conn:
        db.migrate(conn)
        summary = sync.run(settings, conn, names=args.user or None, full=args.full,
                           with_features=not args.no_features)
    print(sync.format_summary(summary))
    return 0


def cmd_features(settings: Settings, args) -> int:
    from taskcode import features

    with db.connection(settings) as conn:
        db.migrate(conn)
        summary = features.fetch_missing(settings, conn)
    print(json.dumps(summary.as_dict(), indent=2))
    return 0


def cmd_embed(settings: Settings, args) -> int:
    from taskcode.embed import embed

    with db.connection(settings) as conn:
        db.migrate(conn)
        result = embed(settings, conn, fresh=args.fresh)
    how = f"{result.fitted} fitted" if result.fitted else f"{result.placed} new song(s) placed"
    print(f"map of model version {result.version}: {result.points} songs ({how}), "
          f"{result.out_of_place} out of place, {result.seconds:.1f} s")
    return 0


def cmd_sample_library(settings: Settings, args) -> int:
    return _emulator_cli("sample-library", "--people", args.people, "--tracks", args.tracks,
                         "--overlap", args.overlap, "--seed", args.seed, "--catalog", args.catalog,
                         "--catalog-extra", args.catalog_extra, "-o", args.output)


def cmd_emulator(settings: Settings, args) -> int:
    return _emulator_cli("serve", "--port", args.port, "--library", args.library, "--client-id", args.client_id)


def _emulator_cli(command: str, *options) -> int:
    """Developer tooling lives in the top-level `emulator` package; the product never imports it."""
    import importlib

    pairs = zip(options[::2], options[1::2])
    argv = [command, *(str(part) for name, value in pairs if value is not None for part in (name, value))]
    try:
        emulator_cli = importlib.import_module("emulator.cli")
    except ModuleNotFoundError as exc:
        if exc.name != "emulator":
            raise
        raise UsageError("the emulator is developer tooling, not installed with the product; "
                         "run it from a checkout's root folder") from None
    return emulator_cli.main(argv)


def cmd_train(settings: Settings, args) -> int:
    from taskcode import registry, train

    with db.connection(settings) as conn:
        db.migrate(conn)
        result = train.train(settings, conn, force=args.force)
        decision = None
        if result.version is not None:
            decision = registry.evaluate_and_promote(settings, conn, result.version)
    print(train.format_report(result, decision))
    return 0


def cmd_predict(settings: Settings, args) -> int:
    from taskcode.predict import format_predictions, predict

    with db.connection(settings) as conn:
        db.migrate(conn)
        predictions = predict(settings, conn, args.tracks)
    if args.json:
        print(json.dumps([p.as_dict() for p in predictions], indent=2, ensure_ascii=False))
    else:
        print(format_predictions(predictions))
    malformed = [p.reference for p in predictions if p.track_id is None]
    if malformed:  # the good references got their answers above; the exit code tells scripts
        raise UsageError(f"predict: not a Spotify track: {', '.join(map(repr, malformed))}; give a track id, "
                         "a spotify:track: URI or an open.spotify.com track URL")
    return 0


def cmd_discover(settings: Settings, args) -> int:
    from taskcode.predict import discover, format_discoveries

    with db.connection(settings) as conn:
        db.migrate(conn)
        found = discover(settings, conn, args.user, top=args.top)
    if args.json:
        print(json.dumps(found, indent=2, ensure_ascii=False))
    else:
        print(format_discoveries(args.user, found))
    return 0


def cmd_model_list(settings: Settings, args) -> int:
    from taskcode import registry

    with db.connection(settings) as conn:
        db.migrate(conn)
        print(registry.format_versions(registry.list_versions(conn)))
    return 0


def cmd_model_rollback(settings: Settings, args) -> int:
    from taskcode import registry

    with db.connection(settings) as conn:
        db.migrate(conn)
        done = registry.rollback(conn)
    print(f"rolled back: version {done.champion} is the champion again; version {done.retired} is retired")
    return 0


# -- wiring -------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m taskcode",
        description="Whose song is it? Sync liked songs, train, map, predict.",
    )
    parser.add_argument("--config", help="config file (default: $TASKCODE_CONFIG or config/config.yml)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    db_parser = commands.add_parser("db", help="database maintenance")
    db_commands = db_parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_commands.add_parser("migrate", help="apply sql/ migrations (safe to run again)").set_defaults(
        handler=cmd_db_migrate
    )
    db_commands.add_parser("stop", help="stop the embedded local PostgreSQL").set_defaults(handler=cmd_db_stop)

    status_parser = commands.add_parser("status", help="people, tracks, champion and map at a glance")
    status_parser.add_argument("--json", action="store_true", help="print one JSON object")
    status_parser.set_defaults(handler=cmd_status)

    auth = commands.add_parser("authorize", help="register a person and store their Spotify authorization")
    auth.add_argument("--user", required=True, help="the person's name (new or existing)")
    how = auth.add_mutually_exclusive_group()
    how.add_argument("--refresh-token", help="use this refresh token instead of logging in")
    how.add_argument("--cache-file", help="import a token file written by spotipy (.cache)")
    auth.add_argument("--client-id", help="this person's own Spotify app (development mode admits 5 users an app)")
    auth.add_argument("--client-secret", help="secret of that app (asked at a prompt when left out, "
                      "so that it stays out of the shell history)")
    auth.set_defaults(handler=cmd_authorize)

    sync_parser = commands.add_parser("sync", help="new liked songs of everyone (or --user), then audio features")
    sync_parser.add_argument("--user", action="append", help="only this person (repeatable)")
    sync_parser.add_argument("--full", action="store_true",
                             help="page everything and mark likes gone from Spotify as removed")
    sync_parser.add_argument("--no-features", action="store_true", help="skip the audio features step")
    sync_parser.set_defaults(handler=cmd_sync)

    features_parser = commands.add_parser("features", help="audio features for tracks that have none yet")
    features_parser.set_defaults(handler=cmd_features)

    embed_parser = commands.add_parser("embed", help="the champion's t-SNE map, new songs placed into it")
    embed_parser.add_argument("--fresh", action="store_true", help="draw the map anew instead of extending it")
    embed_parser.set_defaults(handler=cmd_embed)

    sample = commands.add_parser(
        "sample-library", help="write a deterministic synthetic library for the emulator and tests"
    )
    sample.add_argument("--people", type=int, default=2, help="number of people (default 2)")
    sample.add_argument("--tracks", type=int, default=1000, help="liked songs per person (default 1000)")
    sample.add_argument("--overlap", type=float, default=0.1,
                        help="fraction of each person's likes also liked by someone else (default 0.1)")
    sample.add_argument("--seed", type=int, default=7, help="same seed, same library (default 7)")
    sample.add_argument("--catalog", help="also write a catalog CSV (public 'Spotify Tracks Dataset' columns)")
    sample.add_argument("--catalog-extra", type=int, default=0,
                        help="songs in the catalog that nobody likes yet (for discover)")
    sample.add_argument("-o", "--output", required=True, help="library file to write (JSON)")
    sample.set_defaults(handler=cmd_sample_library)

    emulator = commands.add_parser(
        "emulator", help="serve a sample library as a local Spotify (Web API, accounts, ReccoBeats)"
    )
    emulator.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    emulator.add_argument("--library", required=True, help="library file written by sample-library")
    emulator.add_argument("--client-id", help="the app's client id (default: $SPOTIFY_CLIENT_ID or random);"
                          " the secret comes from $SPOTIFY_CLIENT_SECRET")
    emulator.set_defaults(handler=cmd_emulator)
    train_parser = commands.add_parser(
        "train", help="train a candidate model, then promote it only if it beats the champion"
    )
    train_parser.add_argument("--force", action="store_true",
                              help="train even when data and config are unchanged since the champion")
    train_parser.set_defaults(handler=cmd_train)

    predict_parser = commands.add_parser("predict", help="whose song is it? the champion's probability per person")
    predict_parser.add_argument("tracks", nargs="+", metavar="TRACK",
                                help="track id, spotify:track: URI or open.spotify.com URL")
    predict_parser.add_argument("--json", action="store_true", help="print JSON")
    predict_parser.set_defaults(handler=cmd_predict)

    discover_parser = commands.add_parser(
        "discover", help="catalog songs a person has not liked, ranked by the champion (needs paths.catalog_csv)"
    )
    discover_parser.add_argument("--user", required=True, help="the person to find songs for")
    discover_parser.add_argument("--top", type=_positive_int, default=10, help="how many songs (default 10)")
    discover_parser.add_argument("--json", action="store_true", help="print JSON")
    discover_parser.set_defaults(handler=cmd_discover)

    model_parser = commands.add_parser("model", help="the model registry")
    model_commands = model_parser.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    model_commands.add_parser("list", help="versions, F1, status, date").set_defaults(handler=cmd_model_list)
    model_commands.add_parser(
        "rollback", help="make the previous champion the champion again"
    ).set_defaults(handler=cmd_model_rollback)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        setup_logging(settings.log_level)
        return args.handler(settings, args) or 0
    except TaskcodeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
        print(f"error: {db.operational_error(exc)}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("error: interrupted; nothing half-done was committed, run the command again", file=sys.stderr)
        return 130
