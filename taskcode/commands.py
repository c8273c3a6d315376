"""The registry of `python -m taskcode` commands: each handler declares its options beside itself.

`taskcode.cli` registers the commands in the pipeline's order (which is the
order `--help` lists them in) and builds the parser from this registry.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Arg:
    """One `add_argument(*flags, **options)`, written beside the handler that reads it."""

    flags: tuple[str, ...]
    options: dict


@dataclass(frozen=True)
class OneOf:
    """Options of which at most one may be given."""

    arguments: tuple[Arg, ...]


@dataclass(frozen=True)
class Command:
    name: str  # "sync", or "db migrate" for an action of a group
    help: str
    arguments: tuple[Arg | OneOf, ...]
    handler: Callable
    forward: bool = False  # the handler takes the raw arguments, no settings


COMMANDS: list[Command] = []
GROUPS = {"db": "database maintenance", "person": "a person and their data", "model": "the model registry"}


def arg(*flags: str, **options) -> Arg:
    return Arg(flags, options)


def one_of(*arguments: Arg) -> OneOf:
    return OneOf(arguments)


def command(name: str, help: str, *arguments: Arg | OneOf, forward: bool = False):
    """Register the decorated handler as `python -m taskcode NAME`, with these options."""

    def register(handler: Callable) -> Callable:
        COMMANDS.append(Command(name, help, arguments, handler, forward))
        return handler

    return register


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
