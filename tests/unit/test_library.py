"""The sample library: deterministic, shaped like the real thing, learnable but not trivially."""

import csv
import hashlib

import numpy as np
import pytest

from emulator import Library, generate
from taskcode.catalog import CATALOG_COLUMNS
from taskcode.errors import DataError
from tests.conftest import run_cli


def test_same_arguments_same_bytes(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    generate(people=3, tracks=200, seed=11).save(a)
    generate(people=3, tracks=200, seed=11).save(b)
    generate(people=3, tracks=200, seed=12).save(tmp_path / "c.json")
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert digest(a) == digest(b)
    assert digest(a) != digest(tmp_path / "c.json")


def test_counts_overlap_and_unique_ids():
    library = generate(people=2, tracks=1000, overlap=0.1, seed=7)
    assert [p.name for p in library.people] == ["alice", "bob"]
    for person in library.people:
        likes = library.likes_of(person.name)
        assert len(likes) == 1000
        assert len({like.track_id for like in likes}) == 1000
        stamps = [like.added_at for like in likes]
        assert stamps == sorted(stamps, reverse=True)
        assert len(set(stamps)) < len(stamps), "ties (an album liked at once) must occur"
    shared = [t for t, owners in library.owners().items() if len(owners) > 1]
    assert len(shared) == 200  # 100 of each person's likes belong to the other too
    assert len(library.tracks) == 1800
    assert all(len(t) == 22 for t in library.tracks)


def test_features_look_like_spotify():
    library = generate(people=2, tracks=500, seed=3)
    features = [t["features"] for t in library.tracks.values()]
    for name in ("danceability", "energy", "valence", "acousticness", "instrumentalness", "speechiness", "liveness"):
        values = np.array([f[name] for f in features])
        assert values.min() >= 0 and values.max() <= 1, name
    assert {f["key"] for f in features} <= set(range(-1, 12))
    assert {f["mode"] for f in features} == {0, 1}
    assert all(-60 <= f["loudness"] <= 0 for f in features)
    unknown = [t for t in library.tracks.values() if not t["known_by"]]
    assert 0 < len(unknown) < 0.1 * len(library.tracks)
    assert any(not name.isascii() for name in (t["name"] for t in library.tracks.values()))


def test_people_differ_in_taste_but_overlap():
    """Per-person means differ clearly, yet each feature's ranges overlap a lot."""
    library = generate(people=2, tracks=2000, overlap=0.0, seed=5)
    owners = library.owners()
    energy = {name: [] for name in ("alice", "bob")}
    for track_id, who in owners.items():
        energy[next(iter(who))].append(library.tracks[track_id]["features"]["energy"])
    a, b = np.array(energy["alice"]), np.array(energy["bob"])
    assert abs(a.mean() - b.mean()) > 0.02
    assert max(a.min(), b.min()) < min(a.max(), b.max())


def test_add_and_remove_likes():
    library = generate(people=2, tracks=50, seed=1)
    track = library.new_track("alice")
    like = library.add_like("alice", track["id"], "2026-11-20T10:00:00Z")
    assert library.likes_of("alice")[0] == like
    assert library.remove_like("alice", track["id"])
    assert not library.remove_like("alice", track["id"])
    with pytest.raises(DataError, match="no person 'zed'"):
        library.add_like("zed", track["id"])


def test_catalog_csv_has_the_public_columns(tmp_path):
    library = generate(people=2, tracks=100, seed=2, catalog_extra=30)
    path = tmp_path / "catalog.csv"
    rows = library.write_catalog(path)
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames[1:]) == CATALOG_COLUMNS
        ids = [row["track_id"] for row in reader]
    assert len(ids) == rows
    assert set(library.catalog_only) <= set(ids)
    assert len(library.catalog_only) == 30


def test_load_rejects_other_files(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(DataError, match="not a sample library"):
        Library.load(path)
    path.write_text("{broken")
    with pytest.raises(DataError, match="invalid JSON"):
        Library.load(path)


def test_cli_writes_library_and_catalog(tmp_path):
    out, catalog = tmp_path / "lib.json", tmp_path / "cat.csv"
    result = run_cli(
        "sample-library",
        "--people",
        "3",
        "--tracks",
        "40",
        "--seed",
        "9",
        "--catalog",
        str(catalog),
        "--catalog-extra",
        "5",
        "-o",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    library = Library.load(out)
    assert len(library.people) == 3 and len(library.likes) == 120
    assert "3 people, 120 likes" in result.stdout
    assert catalog.exists()


def test_cli_says_in_one_line_when_it_cannot_write(tmp_path):
    missing = tmp_path / "no" / "such" / "folder" / "lib.json"
    result = run_cli("sample-library", "--people", "2", "--tracks", "10", "-o", str(missing))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip() == f"error: sample-library: cannot write {missing}: No such file or directory"


def test_new_likes_follow_the_persons_artists():
    """A new song is by artists the person already likes, mostly by their own (the main artists of
    songs only they like, as in the sample library), the same for the same seed."""
    library = generate(people=2, tracks=200, seed=3)
    owners = library.owners()
    liked = {a["id"] for like in library.likes_of("alice") for a in library.tracks[like.track_id]["artists"]}
    own = {
        name: {library.tracks[t]["artists"][0]["id"] for t, who in owners.items() if who == {name}}
        for name in ("alice", "bob")
    }
    new = [library.new_track("alice") for _ in range(60)]
    main = [track["artists"][0]["id"] for track in new]
    assert all({a["id"] for a in track["artists"]} <= liked for track in new)
    assert sum(artist in own["alice"] for artist in main) >= 0.7 * len(main)
    assert sum(artist in own["bob"] for artist in main) <= 0.3 * len(main)
    again = generate(people=2, tracks=200, seed=3)
    assert [again.new_track("alice") for _ in range(60)] == new
