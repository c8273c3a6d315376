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
from taskcode.errors import TaskcodeError
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


def cmd_sample_library(settings: Settings, args) -> int:
    import time

    from taskcode.library import generate

    started = time.perf_counter()
    library = generate(
        people=args.people, tracks=args.tracks, overlap=args.overlap, seed=args.seed,
        catalog_extra=args.catalog_extra,
    )
    library.save(args.output)
    message = (
        f"wrote {args.output}: {len(library.people)} people, {len(library.likes)} likes, "
        f"{len(library.tracks)} tracks"
    )
    if args.catalog:
        rows = library.write_catalog(args.catalog)
        message += f"; catalog {args.catalog}: {rows} rows"
    print(f"{message} ({time.perf_counter() - started:.1f} s)")
    return 0


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
