"""The sample library has the structure real liked-songs lists have: artists with a sound, liked repeatedly."""

from collections import Counter, defaultdict

import numpy as np

from emulator import generate


def _artists_by_person(lib):
    liked = defaultdict(Counter)
    for like in lib.likes:
        for artist in lib.tracks[like.track_id]["artists"][:1]:
            liked[like.person][artist["id"]] += 1
    return liked


def test_people_like_several_songs_of_the_same_artists_and_a_few_artists_both_like():
    lib = generate(people=2, tracks=600, overlap=0.0, seed=3)
    liked = _artists_by_person(lib)
    for counts in liked.values():
        assert np.median(list(counts.values())) >= 3  # several songs per artist
    both = set(liked["alice"]) & set(liked["bob"])
    assert 0 < len(both) < 0.2 * min(len(liked["alice"]), len(liked["bob"]))


def test_an_artists_songs_share_a_sound():
    lib = generate(people=2, tracks=600, overlap=0.0, seed=3)
    songs = defaultdict(list)
    for track in lib.tracks.values():
        songs[track["artists"][0]["id"]].append(track["features"]["danceability"])
    within = np.mean([np.var(values) for values in songs.values() if len(values) >= 3])
    overall = np.var([value for values in songs.values() for value in values])
    assert within < 0.8 * overall


def test_the_library_stays_deterministic_by_seed():
    one, two = (
        generate(people=3, tracks=80, seed=5, catalog_extra=10),
        generate(people=3, tracks=80, seed=5, catalog_extra=10),
    )
    assert one.tracks == two.tracks and one.likes == two.likes
    assert generate(people=3, tracks=80, seed=6).tracks != one.tracks
