"""`import`: a person's liked songs from Spotify's account data export, without a developer app.

A development-mode app needs an owner with Premium and admits five people.
"Download your data" (a Spotify account's privacy settings) needs neither: its
`YourLibrary.json` lists the liked songs as `{"artist", "album", "track",
"uri"}`, with no date a song was liked. The likes are stored as the person's,
dated at the import and marked as coming from an export; the uri gives the
Spotify id, so the feature sources find them as they find synced songs, and
the person trains, maps and discovers like anyone else.

An export is the whole list, so importing a newer one works like `sync
--full`: new likes are added, likes no longer in it are marked removed, in
one transaction. A file that is not such an export changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from taskcode import db, store
from taskcode.errors import DataError
from taskcode.items import SavedTrack, TrackRow, track_id_from

EXPORT_FILE = "YourLibrary.json"
HOW_TO_GET_ONE = (
    "give the YourLibrary.json of Spotify's account data export (Account > Privacy > Download your data) "
    "or the export's zip"
)


@dataclass
class ImportResult:
    name: str
    songs: int  # liked songs in the export (tracks with a Spotify id)
    new: int = 0  # new likes, or likes back after a removal
    removed: int = 0
    skipped: Counter = field(default_factory=Counter)


def import_export(conn, name: str, path: Path | str, *, now: dt.datetime | None = None) -> ImportResult:
    """Store the export's liked songs as `name`'s (registered if new); nothing changes if it is not an export."""
    now = now or dt.datetime.now(dt.UTC)
    saved, skipped = parse_export(read_export(Path(path)), now)
    result = ImportResult(name, songs=len(saved), skipped=skipped)
    with db.transaction(conn) as cur:
        person_id = store.ensure_person(cur, name)
        store.upsert_tracks(cur, (s.track for s in saved), only_new=True)
        result.new = store.upsert_likes(cur, person_id, saved, source="export")
        result.removed = store.mark_removed(cur, person_id, {s.track.track_id for s in saved}, now)
    return result


def read_export(path: Path) -> dict:
    """The parsed YourLibrary.json of a file or of the export's zip; a DataError (one line) otherwise."""
    try:
        if zipfile.is_zipfile(path):
            text = _from_zip(path)
        else:
            text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise DataError(f"import: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise DataError(f"import: {path} is not a JSON file (not even text); {HOW_TO_GET_ONE}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise DataError(f"import: {path} is not JSON ({exc}); {HOW_TO_GET_ONE}") from None
    if not isinstance(data, dict) or not isinstance(data.get("tracks"), list):
        raise DataError(f"import: {path} has no 'tracks' list, so it is not a YourLibrary.json; {HOW_TO_GET_ONE}")
    return data


def _from_zip(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        members = [m for m in archive.namelist() if m.rsplit("/", 1)[-1] == EXPORT_FILE]
        if not members:
            raise DataError(f"import: the zip {path} holds no {EXPORT_FILE}; {HOW_TO_GET_ONE}")
        try:
            return archive.read(min(members, key=len)).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise DataError(f"import: {EXPORT_FILE} in {path} is not text; {HOW_TO_GET_ONE}") from None
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataError(f"import: cannot read {EXPORT_FILE} in {path}: {exc}") from None


def parse_export(data: dict, now: dt.datetime) -> tuple[list[SavedTrack], Counter]:
    """The export's songs as saved tracks dated `now`, and how many entries were skipped, by reason."""
    saved: dict[str, SavedTrack] = {}
    skipped: Counter = Counter()
    for entry in data["tracks"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("uri"), str):
            raise DataError("import: an entry of 'tracks' has no 'uri'; this is not a YourLibrary.json")
        track_id = track_id_from(entry["uri"]) if entry["uri"].startswith("spotify:track:") else None
        if track_id is None:
            skipped["not_a_spotify_track"] += 1  # a local file, or something newer than this code
        elif track_id in saved:
            skipped["duplicate"] += 1
        else:
            row = TrackRow(
                track_id=track_id,
                name=_text(entry.get("track")),
                artists=(entry["artist"],) if _text(entry.get("artist")) else (),
                album_name=_text(entry.get("album")),
            )
            saved[track_id] = SavedTrack(row, now)
    if not saved:
        raise DataError("import: the export lists no liked song with a Spotify id; nothing to import")
    return list(saved.values()), skipped


def _text(value) -> str | None:
    return value if isinstance(value, str) and value else None


def format_result(result: ImportResult) -> str:
    skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(result.skipped.items()))
    return (
        f"imported {result.name}: {result.songs} liked song(s) in the export, {result.new} new, "
        f"{result.removed} removed"
        + (f"; skipped {skipped}" if skipped else "")
        + "; next: python -m taskcode features (or sync), then train and embed"
    )
