"""`python -m taskcode …`: every stage of the pipeline from the command line.

Each command is one handler with its options declared right above it
(`@command`); `--help` lists the commands in the order this file registers
them, which is the pipeline's order. Expected faults (bad config, no
database, revoked credentials, rate limits) end with one line on stderr and
a non-zero exit code; a traceback means a bug. Heavy libraries (TensorFlow,
openTSNE) are imported only by the commands that need them, so `status`
stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable

import psycopg2

from taskcode import __version__, db
from taskcode.commands import COMMANDS, GROUPS, Arg, OneOf, arg, command, one_of, positive_int
from taskcode.config import Settings, load_settings
from taskcode.errors import TaskcodeError, UsageError
from taskcode.log import setup_logging

# -- the pipeline, in its order -------------------------------------------------


@command("db migrate", "apply sql/ migrations (safe to run again)")
def cmd_db_migrate(settings: Settings, args) -> int:
    with db.connection(settings) as conn:
        applied = db.migrate(conn)
    print(
        f"applied {len(applied)} migration(s)"
        + (": " + ", ".join(applied) if applied else "; the database is up to date")
    )
    return 0


@command("db stop", "stop the embedded local PostgreSQL")
def cmd_db_stop(settings: Settings, args) -> int:
    if not settings.database.embedded:
        print("DATABASE_URL is set: that server is not ours to stop")
        return 0
    from taskcode.localpg import LocalCluster

    stopped = LocalCluster(settings.paths.data_dir).stop()
    print("stopped the local PostgreSQL" if stopped else "the local PostgreSQL was not running")
    return 0


@command(
    "authorize",
    "register a person and store their Spotify authorization",
    arg("--user", required=True, help="the person's name (new or existing)"),
    one_of(
        arg("--refresh-token", help="use this refresh token instead of logging in"),
        arg("--cache-file", help="import a token file written by spotipy (.cache)"),
    ),
    arg("--client-id", help="this person's own Spotify app (development mode admits 5 users an app)"),
    arg(
        "--client-secret",
        help="secret of that app (asked at a prompt when left out, so that it stays out of the shell history)",
    ),
)
def cmd_authorize(settings: Settings, args) -> int:
    from taskcode.authorize import authorize

    if args.client_id and not args.client_secret:
        import getpass

        try:
            args.client_secret = getpass.getpass(f"client secret of the app {args.client_id}: ")
        except EOFError:
            raise TaskcodeError("authorize: --client-id needs its secret (typed at the prompt)") from None
    with db.migrated(settings) as conn:
        profile = authorize(
            settings,
            conn,
            args.user,
            refresh_token=args.refresh_token,
            cache_file=args.cache_file,
            client_id=args.client_id,
            client_secret=args.client_secret,
        )
    print(
        f"authorized {args.user}: Spotify user {profile.get('id')} ({profile.get('display_name') or 'no display name'})"
    )
    return 0


@command(
    "import",
    "a person's liked songs from Spotify's account data export (no developer app needed)",
    arg("--user", required=True, help="the person's name (new or existing)"),
    arg("path", metavar="PATH", help="YourLibrary.json, or the export's zip that holds it"),
)
def cmd_import(settings: Settings, args) -> int:
    from taskcode.importer import format_result, import_export

    with db.migrated(settings) as conn:
        result = import_export(conn, args.user, args.path)
    print(format_result(result))
    return 0


@command(
    "person remove",
    "delete a person, their likes and everything derived for them",
    arg("name", metavar="NAME", help="the person to remove"),
)
def cmd_person_remove(settings: Settings, args) -> int:
    from taskcode.people import format_removal, remove_person

    with db.migrated(settings) as conn, db.transaction(conn) as cur:
        removal = remove_person(cur, args.name)
    print(format_removal(removal))
    return 0


@command(
    "sync",
    "new liked songs of everyone (or --user), then audio features",
    arg("--user", action="append", help="only this person (repeatable)"),
    arg("--full", action="store_true", help="page everything and mark likes gone from Spotify as removed"),
    arg("--no-features", action="store_true", help="skip the audio features step"),
)
def cmd_sync(settings: Settings, args) -> int:
    from taskcode import sync

    with db.migrated(settings) as conn:
        summary = sync.run(settings, conn, names=args.user or None, full=args.full, with_features=not args.no_features)
    print(sync.format_summary(summary))
    return 0


@command("features", "audio features for tracks that have none yet")
def cmd_features(settings: Settings, args) -> int:
    from taskcode import features

    with db.migrated(settings) as conn:
        summary = features.run(settings, conn)
    print(json.dumps(summary.as_dict(), indent=2))
    return 0


@command(
    "train",
    "train a candidate model, then promote it only if it beats the champion",
    arg("--force", action="store_true", help="train even when data and config are unchanged since the champion"),
)
def cmd_train(settings: Settings, args) -> int:
    from taskcode import promotion, train

    with db.migrated(settings) as conn:
        result = train.train(settings, conn, force=args.force)
        decision = None
        if result.version is not None:
            decision = promotion.evaluate_and_promote(settings, conn, result.version)
    print(train.format_report(result, decision))
    return 0


@command(
    "embed",
    "the champion's t-SNE map, new songs placed into it",
    arg("--fresh", action="store_true", help="draw the map anew instead of extending it"),
)
def cmd_embed(settings: Settings, args) -> int:
    from taskcode.embed import embed

    with db.migrated(settings) as conn:
        result = embed(settings, conn, fresh=args.fresh)
    how = f"{result.fitted} fitted" if result.fitted else f"{result.placed} new song(s) placed"
    print(
        f"map of model version {result.version}: {result.points} songs ({how}), "
        f"{result.out_of_place} out of place, {result.seconds:.1f} s"
    )
    return 0


@command(
    "predict",
    "whose song is it? the champion's probability per person",
    arg("tracks", nargs="+", metavar="TRACK", help="track id, spotify:track: URI or open.spotify.com URL"),
    arg("--json", action="store_true", help="print JSON"),
)
def cmd_predict(settings: Settings, args) -> int:
    from taskcode.predict import format_predictions, predict

    with db.migrated(settings) as conn:
        predictions = predict(settings, conn, args.tracks)
    if args.json:
        print(json.dumps([p.as_dict() for p in predictions], indent=2, ensure_ascii=False))
    else:
        print(format_predictions(predictions))
    malformed = [p.reference for p in predictions if p.track_id is None]
    if malformed:  # the good references got their answers above; the exit code tells scripts
        raise UsageError(
            f"predict: not a Spotify track: {', '.join(map(repr, malformed))}; give a track id, "
            "a spotify:track: URI or an open.spotify.com track URL"
        )
    return 0


@command(
    "discover",
    "songs a person has not liked, ranked by the champion: the household's, the catalog's; stored",
    arg("--user", help="the person to find songs for (default: everyone)"),
    arg("--from", dest="source", choices=["household", "catalog", "all"], default="all", help="default all"),
    arg("--top", type=positive_int, default=10, help="how many songs (default 10)"),
    arg("--json", action="store_true", help="print JSON"),
)
def cmd_discover(settings: Settings, args) -> int:
    from taskcode.predict import SOURCES, find_discoveries, format_discoveries

    sources = SOURCES if args.source == "all" else (args.source,)
    with db.migrated(settings) as conn:
        found, summary = find_discoveries(settings, conn, sources, args.user, top=args.top)
    print(json.dumps(found, indent=2, ensure_ascii=False) if args.json else format_discoveries(found, summary))
    return 0


@command(
    "playlists",
    "write the opted-in people's playlists and the shared one back to Spotify (config: playlists)",
    arg("--user", help="only the playlists in this person's account"),
)
def cmd_playlists(settings: Settings, args) -> int:
    from taskcode.playlists import run_command

    with db.migrated(settings) as conn:
        return run_command(settings, conn, args.user)


@command("model list", "versions, F1, status, date")
def cmd_model_list(settings: Settings, args) -> int:
    from taskcode import registry

    with db.migrated(settings) as conn:
        print(registry.format_versions(registry.list_versions(conn)))
    return 0


@command("model rollback", "make the previous champion the champion again")
def cmd_model_rollback(settings: Settings, args) -> int:
    from taskcode import promotion

    with db.migrated(settings) as conn:
        done = promotion.rollback(conn)
    print(f"rolled back: version {done.champion} is the champion again; version {done.retired} is retired")
    return 0


@command(
    "status",
    "people, tracks, champion and map at a glance",
    arg("--json", action="store_true", help="print one JSON object"),
)
def cmd_status(settings: Settings, args) -> int:
    from taskcode.status import format_status, status

    with db.migrated(settings) as conn:
        report = status(conn, settings)
    print(json.dumps(report, indent=2, sort_keys=True) if args.json else format_status(report))
    return 0


# -- developer tools: they live in the checkout's `emulator` package, not in the product


@command(
    "emulator", "(development) serve a sample library as a local Spotify (Web API, accounts, ReccoBeats)", forward=True
)
def cmd_emulator(argv: list[str]) -> int:
    return _emulator(["serve", *argv])


@command(
    "sample-library", "(development) write a deterministic synthetic library for the emulator and tests", forward=True
)
def cmd_sample_library(argv: list[str]) -> int:
    return _emulator(["sample-library", *argv])


def _emulator(argv: list[str]) -> int:
    try:
        emulator_cli = importlib.import_module("emulator.cli")
    except ModuleNotFoundError as exc:
        if exc.name not in ("emulator", "emulator.cli"):
            raise  # the emulator is here but lacks something: a bug to see
        print(
            "error: the emulator is a development tool, not installed here; "
            "run it from a checkout: python -m emulator …",
            file=sys.stderr,
        )
        return 2
    return emulator_cli.main(argv)


# -- wiring -------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The parser of every registered command; `--config` is accepted before and after the command."""
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument(
        "--config", default=argparse.SUPPRESS, help="config file (default: $TASKCODE_CONFIG or config/config.yml)"
    )
    parser = argparse.ArgumentParser(
        prog="python -m taskcode",
        parents=[config],
        description="Whose song is it? Sync liked songs, train, map, predict.",
    )
    parser.add_argument("--version", action="version", version=f"taskcode {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    groups = {}  # "db" -> the sub-parsers of its actions
    for spec in COMMANDS:
        group, _, action = spec.name.rpartition(" ")
        if group and group not in groups:
            group_parser = commands.add_parser(group, help=GROUPS[group], parents=[config])
            groups[group] = group_parser.add_subparsers(dest=f"{group}_command", metavar="ACTION", required=True)
        where = groups[group] if group else commands
        if spec.forward:  # every argument after the name goes to the tool, --help included
            where.add_parser(action, help=spec.help, add_help=False).set_defaults(spec=spec)
            continue
        sub = where.add_parser(action, help=spec.help, parents=[config])
        for argument in spec.arguments:
            _add(sub, argument)
        sub.set_defaults(spec=spec)
    return parser


def _add(parser, argument: Arg | OneOf) -> None:
    if isinstance(argument, OneOf):
        exclusive = parser.add_mutually_exclusive_group()
        for each in argument.arguments:
            exclusive.add_argument(*each.flags, **each.options)
    else:
        parser.add_argument(*argument.flags, **argument.options)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.spec.forward:
        return _quiet_on_closed_pipe(lambda: args.spec.handler(extra))
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return _quiet_on_closed_pipe(lambda: _run(args))


def _run(args) -> int:
    try:
        setup_logging()  # so that what loading says (an old config's translation) is seen
        settings = load_settings(getattr(args, "config", None))
        setup_logging(settings.log_level)
        return args.spec.handler(settings, args) or 0
    except TaskcodeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
        print(f"error: {db.operational_error(exc)}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("error: interrupted; nothing half-done was committed, run the command again", file=sys.stderr)
        return 130


def _quiet_on_closed_pipe(run: Callable[[], int]) -> int:
    """`status | head -1`: a reader that stops early is no error (the Python docs' recipe for SIGPIPE)."""
    try:
        code = run()
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it at devnull so that flush cannot fail too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
