"""The emulator's command line: `serve` a library file, or write a `sample-library`.

Expected faults (no library file, a busy port, an unwritable folder) end with
one line on stderr and the project's exit codes, as `python -m taskcode` does.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

from emulator.accounts import PEOPLE_PER_APP
from emulator.library import Library
from emulator.sample import generate, write_exports
from emulator.service import Emulator
from taskcode.errors import TaskcodeError, UsageError
from taskcode.log import setup_logging


def serve(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C; the client secret comes from $SPOTIFY_CLIENT_SECRET, never the command line."""
    library = Library.load(args.library)
    secret = os.environ.get("SPOTIFY_CLIENT_SECRET")
    client_id = args.client_id or os.environ.get("SPOTIFY_CLIENT_ID")
    if args.people_per_app is not None and args.people_per_app < 0:
        raise UsageError("emulator: --people-per-app must be 0 (no limit) or more")
    default = None if args.extended_quota else PEOPLE_PER_APP
    people_per_app = default if args.people_per_app is None else args.people_per_app
    emu = Emulator(
        library,
        client_id=client_id,
        client_secret=secret,
        port=args.port,
        extended_quota=args.extended_quota,
        people_per_app=people_per_app or None,
    )
    try:
        emu.start()
    except OSError as exc:
        raise TaskcodeError(f"emulator: cannot listen on 127.0.0.1:{args.port}: {exc.strerror}") from None
    with emu:
        print(
            f"Spotify emulator serving {args.library} ({len(library.people)} people, "
            f"{len(library.likes)} likes) at {emu.url}, as "
            + ("an extended-quota app" if args.extended_quota else "a development-mode app (/audio-features: 403)")
            + (f", admitting {people_per_app} people" if people_per_app else ", admitting everyone")
        )
        _print_environment(emu, secret)
        print(f"People and their refresh tokens: GET {emu.url}/admin/people. Ctrl-C stops it.", flush=True)
        try:
            threading.Event().wait()  # the server runs in its own thread until Ctrl-C
        except KeyboardInterrupt:
            print("emulator stopped")
    return 0


def _print_environment(emu: Emulator, secret: str | None) -> None:
    print("Point the project at it:")
    for name, value in emu.env().items():
        if name != "SPOTIFY_CLIENT_SECRET":  # a secret is never printed
            print(f"  export {name}={value}")
    if secret:
        print("  SPOTIFY_CLIENT_SECRET: the value it was started with")
    else:
        print(
            "  SPOTIFY_CLIENT_SECRET: a random one nobody knows; to call /api/token,"
            " restart with SPOTIFY_CLIENT_SECRET set"
        )


def sample_library(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    library = generate(
        people=args.people,
        tracks=args.tracks,
        overlap=args.overlap,
        seed=args.seed,
        catalog_extra=args.catalog_extra,
    )
    try:
        library.save(args.output)
        message = (
            f"wrote {args.output}: {len(library.people)} people, {len(library.likes)} likes, "
            f"{len(library.tracks)} tracks"
        )
        if args.catalog:
            rows = library.write_catalog(args.catalog)
            message += f"; catalog {args.catalog}: {rows} rows"
        if args.export_dir:
            written = write_exports(library, args.export_dir)
            message += f"; account data exports in {args.export_dir}: {', '.join(f'{n}/' for n in written)}"
    except OSError as exc:
        raise UsageError(f"sample-library: cannot write {exc.filename}: {exc.strerror}") from None
    print(f"{message} ({time.perf_counter() - started:.1f} s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serving = commands.add_parser(
        "serve", help="serve a sample library as a local Spotify (Web API, accounts, ReccoBeats)"
    )
    serving.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    serving.add_argument("--library", required=True, help="library file written by sample-library")
    serving.add_argument(
        "--client-id",
        help="the app's client id (default: $SPOTIFY_CLIENT_ID or random);"
        " the secret comes from $SPOTIFY_CLIENT_SECRET",
    )
    serving.add_argument(
        "--extended-quota",
        action="store_true",
        help="serve /audio-features, as Spotify does for extended-quota apps only"
        " (default: 403, as for every development-mode app since 2026-03-09)",
    )
    serving.add_argument(
        "--people-per-app",
        type=int,
        metavar="N",
        help="people the app admits (default: 5, as a development-mode app; with --extended-quota, or 0: no limit)",
    )
    serving.set_defaults(handler=serve)

    sample = commands.add_parser(
        "sample-library", help="write a deterministic synthetic library for the emulator and tests"
    )
    sample.add_argument("--people", type=int, default=2, help="number of people (default 2)")
    sample.add_argument("--tracks", type=int, default=1000, help="liked songs per person (default 1000)")
    sample.add_argument(
        "--overlap",
        type=float,
        default=0.1,
        help="fraction of each person's likes also liked by someone else (default 0.1)",
    )
    sample.add_argument("--seed", type=int, default=7, help="same seed, same library (default 7)")
    sample.add_argument("--catalog", help="also write a catalog CSV (public 'Spotify Tracks Dataset' columns)")
    sample.add_argument(
        "--catalog-extra", type=int, default=0, help="songs in the catalog that nobody likes yet (for discover)"
    )
    sample.add_argument(
        "--export-dir",
        help="also write each person's likes as Spotify's account data export (DIR/NAME/YourLibrary.json)",
    )
    sample.add_argument("-o", "--output", required=True, help="library file to write (JSON)")
    sample.set_defaults(handler=sample_library)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging("WARNING")  # the emulator logs its own bugs only; the request log is the rest
    try:
        return args.handler(args)
    except TaskcodeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
