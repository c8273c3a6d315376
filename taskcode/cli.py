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
    return parser


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
