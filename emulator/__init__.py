"""A local Spotify: the offline world that tests, the demo and benchmarks run in.

No machine here reaches Spotify. The emulator serves a sample library over
real HTTP, in the shapes Spotify answers with, so the real clients (spotipy,
requests) run unchanged against it, and it is as strict as the real service
(README.md in this folder). It is developer tooling: the product never
imports it and its image does not ship it.
"""

from emulator.library import Library
from emulator.sample import generate
from emulator.service import Emulator

__all__ = ["Emulator", "Library", "generate"]
