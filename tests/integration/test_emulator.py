"""The Spotify emulator over real HTTP, driven by spotipy 2.26 and plain requests.

Everything else is tested against this emulator, so it must be as strict as
Spotify: these tests pin down what it answers (shapes, limits, errors,
faults, odd items) and what spotipy makes of it.
"""

from __future__ import annotations

import inspect
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import spotipy
from spotipy.cache_handler import MemoryCacheHandler
from spotipy.exceptions import SpotifyException
from spotipy.oauth2 import SpotifyOAuth, SpotifyOauthError

from emulator import Emulator, Library, generate
from emulator.admin import FAULT_ACTIONS
from emulator.faults import ENDPOINTS
from emulator.likes import QUIRKS
from emulator.reccobeats import RECCOBEATS_FIELDS
from emulator.server import ROUTES
from taskcode.errors import DataError
from tests.conftest import EXTENDED_QUOTA, PROJECT_ROOT, run_cli

# spotipy marks audio_features() and get_access_token(as_dict=...) deprecated; that is expected here.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:spotipy")

REDIRECT_URI = "http://127.0.0.1:8765/callback"
SCOPE = "user-library-read"
NEWEST = "2026-12-24T18:00:00Z"  # later than every like in the sample library
TRACK_KEYS = {
    "album",
    "artists",
    "disc_number",
    "duration_ms",
    "explicit",
    "external_ids",
    "external_urls",
    "href",
    "id",
    "is_local",
    "name",
    "preview_url",
    "track_number",
    "type",
    "uri",
}
ALBUM_KEYS = {
    "album_type",
    "artists",
    "external_urls",
    "href",
    "id",
    "images",
    "name",
    "release_date",
    "release_date_precision",
    "total_tracks",
    "type",
    "uri",
}
ARTIST_KEYS = {"external_urls", "href", "id", "name", "type", "uri"}
FEATURE_KEYS = {
    "acousticness",
    "analysis_url",
    "danceability",
    "duration_ms",
    "energy",
    "id",
    "instrumentalness",
    "key",
    "liveness",
    "loudness",
    "mode",
    "speechiness",
    "tempo",
    "time_signature",
    "track_href",
    "type",
    "uri",
    "valence",
}


# -- clients ------------------------------------------------------------------------


def oauth(emu: Emulator, token_info: dict | None = None, **options) -> SpotifyOAuth:
    """spotipy's own OAuth manager, with the accounts URLs pointed at the emulator."""

    class EmulatorOAuth(SpotifyOAuth):
        OAUTH_TOKEN_URL = f"{emu.accounts_base}/api/token"
        OAUTH_AUTHORIZE_URL = f"{emu.accounts_base}/authorize"

    settings = {
        "client_id": emu.client_id,
        "client_secret": emu.client_secret,
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
        "open_browser": False,
        **options,
    }
    return EmulatorOAuth(cache_handler=MemoryCacheHandler(token_info), requests_session=requests.Session(), **settings)


def client(emu: Emulator, auth_manager: SpotifyOAuth) -> spotipy.Spotify:
    # A plain Session: no urllib3 retries, so every fault reaches the caller with its headers.
    sp = spotipy.Spotify(auth_manager=auth_manager, requests_session=requests.Session())
    sp.prefix = f"{emu.api_base}/"
    return sp


def spotify(emu: Emulator, name: str = "alice") -> spotipy.Spotify:
    """A client as the sync builds one: a stored refresh token and no valid access token yet."""
    token_info = {
        "access_token": "none-yet",
        "token_type": "Bearer",
        "expires_at": 0,
        "scope": SCOPE,
        "refresh_token": emu.refresh_token(name),
    }
    return client(emu, oauth(emu, token_info))


def bearer(emu: Emulator, name: str = "alice") -> dict[str, str]:
    answer = requests.post(
        f"{emu.accounts_base}/api/token",
        auth=(emu.client_id, emu.client_secret),
        data={"grant_type": "refresh_token", "refresh_token": emu.refresh_token(name)},
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def all_items(sp: spotipy.Spotify) -> list[dict]:
    page = sp.current_user_saved_tracks(limit=50)
    items = list(page["items"])
    while page["next"]:
        page = sp.next(page)
        items += page["items"]
    return items


def spotify_error(call) -> SpotifyException:
    with pytest.raises(SpotifyException) as caught:
        call()
    return caught.value


# -- the Web API ----------------------------------------------------------------------


def test_paging_returns_every_like_newest_first(emulator, sample_library):
    for person in sample_library.people:
        sp = spotify(emulator, person.name)
        pages = [sp.current_user_saved_tracks(limit=50)]
        while pages[-1]["next"]:
            pages.append(sp.next(pages[-1]))
        items = [item for page in pages for item in page["items"]]
        expected = sample_library.likes_of(person.name)  # ties in added_at keep their order
        assert [(i["added_at"], i["track"]["id"]) for i in items] == [
            (like.added_at, like.track_id) for like in expected
        ]
        assert [(p["offset"], p["limit"], p["total"], len(p["items"])) for p in pages] == [
            (0, 50, 120, 50),
            (50, 50, 120, 50),
            (100, 50, 120, 20),
        ]
        base = f"{emulator.api_base}/me/tracks"
        assert [(p["href"], p["previous"], p["next"]) for p in pages] == [
            (f"{base}?offset=0&limit=50", None, f"{base}?offset=50&limit=50"),
            (f"{base}?offset=50&limit=50", f"{base}?offset=0&limit=50", f"{base}?offset=100&limit=50"),
            (f"{base}?offset=100&limit=50", f"{base}?offset=50&limit=50", None),
        ]


def test_paging_defaults_and_edges(emulator):
    sp = spotify(emulator)
    assert len(sp.current_user_saved_tracks(limit=None)["items"]) == 20  # Spotify's default limit
    odd = sp.current_user_saved_tracks(limit=50, offset=30, market="DE")
    assert odd["previous"] == f"{emulator.api_base}/me/tracks?offset=0&limit=50&market=DE"
    beyond = sp.current_user_saved_tracks(limit=50, offset=500)
    assert (beyond["items"], beyond["next"], beyond["total"]) == ([], None, 120)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"limit": "0"}, "Invalid limit"),
        ({"limit": "51"}, "Invalid limit"),
        ({"limit": "ten"}, "Invalid limit"),
        ({"offset": "-1"}, "Invalid offset"),
        ({"offset": "1.5"}, "Invalid offset"),
        ({"market": "Germany"}, "Invalid market code"),
    ],
)
def test_bad_paging_parameters_answer_400(emulator, params, message):
    answer = requests.get(f"{emulator.api_base}/me/tracks", params=params, headers=bearer(emulator))
    assert answer.status_code == 400
    assert answer.json() == {"error": {"status": 400, "message": message}}


def test_spotipy_sees_the_400_for_a_page_too_big(emulator):
    error = spotify_error(lambda: spotify(emulator).current_user_saved_tracks(limit=51))
    assert (error.http_status, error.msg.splitlines()[-1].strip()) == (400, "Invalid limit")


def test_track_objects_have_the_2026_development_mode_shape(emulator, sample_library):
    track = spotify(emulator).current_user_saved_tracks(limit=1)["items"][0]["track"]
    row = sample_library.tracks[track["id"]]
    assert set(track) == TRACK_KEYS  # no popularity, available_markets or linked_from any more
    assert set(track["album"]) == ALBUM_KEYS
    assert all(set(artist) == ARTIST_KEYS for artist in track["artists"] + track["album"]["artists"])
    assert (track["name"], track["duration_ms"], track["explicit"]) == (
        row["name"],
        row["duration_ms"],
        row["explicit"],
    )
    assert [a["id"] for a in track["artists"]] == [a["id"] for a in row["artists"]]
    assert track["album"]["release_date"] == row["album"]["release_date"]
    assert (track["type"], track["is_local"], track["uri"]) == ("track", False, f"spotify:track:{row['id']}")
    assert track["external_urls"] == {"spotify": f"https://open.spotify.com/track/{row['id']}"}


def test_me_is_the_person_behind_the_token(emulator, sample_library):
    bob = sample_library.person("bob")
    assert spotify(emulator, "bob").current_user() == {
        "id": bob.user_id,
        "display_name": "Bob Núñez",
        "type": "user",
        "uri": f"spotify:user:{bob.user_id}",
        "href": f"{emulator.api_base}/users/{bob.user_id}",
        "external_urls": {"spotify": f"https://open.spotify.com/user/{bob.user_id}"},
        "images": [],
    }  # a development-mode app gets no country, email, explicit_content, followers or product


def test_unknown_paths_and_methods(emulator):
    missing = requests.get(f"{emulator.api_base}/me/following", headers=bearer(emulator))
    assert (missing.status_code, missing.json()) == (404, {"error": {"status": 404, "message": "Service not found"}})
    assert requests.post(f"{emulator.api_base}/me", headers=bearer(emulator)).status_code == 405
    assert requests.get(f"{emulator.accounts_base}/api/token").status_code == 405


# -- tokens -----------------------------------------------------------------------------


def test_bearer_token_is_required_and_checked(emulator):
    url = f"{emulator.api_base}/me/tracks"
    headers = bearer(emulator)
    assert requests.get(url, headers=headers).status_code == 200
    cases = [
        ({}, 401, "No token provided"),
        ({"Authorization": "Bearer BQnot-a-token"}, 401, "Invalid access token"),
        ({"Authorization": f"Basic {headers['Authorization'][7:]}"}, 400, "Only valid bearer authentication supported"),
    ]
    emulator.expire_access_tokens()
    cases.append((headers, 401, "The access token expired"))
    for sent, status, message in cases:
        answer = requests.get(url, headers=sent)
        assert (answer.status_code, answer.json()) == (status, {"error": {"status": status, "message": message}})


def test_access_tokens_last_the_configured_time(sample_library):
    with Emulator(sample_library, client_id="app", client_secret="secret", access_token_ttl=120) as emu:
        answer = requests.post(
            f"{emu.accounts_base}/api/token",
            auth=("app", "secret"),
            data={"grant_type": "refresh_token", "refresh_token": emu.authorize_again("bob", scope=SCOPE)},
        )
        token = answer.json()
        assert set(token) == {"access_token", "token_type", "expires_in", "scope"}  # no new refresh token
        assert (token["token_type"], token["expires_in"], token["scope"]) == ("Bearer", 120, SCOPE)


def test_spotipy_refreshes_an_expired_access_token(emulator, sample_library):
    sp = spotify(emulator)
    cache = sp.auth_manager.cache_handler
    assert sp.current_user()["id"] == sample_library.person("alice").user_id
    first_token = cache.token_info["access_token"]
    emulator.expire_access_tokens()
    error = spotify_error(sp.current_user)
    assert error.http_status == 401 and "The access token expired" in error.msg
    # spotipy trusts its own clock; on a 401 the client marks the token expired and spotipy refreshes it.
    cache.token_info["expires_at"] = 0
    emulator.clear_requests()
    assert sp.current_user()["id"] == sample_library.person("alice").user_id
    assert cache.token_info["access_token"] != first_token
    assert [(r["endpoint"], r["status"], r["person"]) for r in emulator.requests()] == [
        ("token", 200, "alice"),
        ("me", 200, "alice"),
    ]


def test_revoked_person_gets_invalid_grant_and_401(emulator, sample_library):
    alice, bob = spotify(emulator, "alice"), spotify(emulator, "bob")
    old_refresh_token, old_headers = emulator.refresh_token("alice"), bearer(emulator, "alice")
    emulator.revoke("alice")
    answer = requests.get(f"{emulator.api_base}/me", headers=old_headers)
    assert (answer.status_code, answer.json()["error"]["message"]) == (401, "Invalid access token")
    with pytest.raises(SpotifyOauthError) as caught:
        alice.current_user()
    assert (caught.value.error, caught.value.error_description) == ("invalid_grant", "Invalid refresh token")
    assert bob.current_user()["id"] == sample_library.person("bob").user_id
    assert emulator.refresh_token("alice") != old_refresh_token  # re-authorizing issues a new one
    assert spotify(emulator, "alice").current_user()["id"] == sample_library.person("alice").user_id


def test_refresh_tokens_expire_182_days_after_authorization(emulator, sample_library):
    url = f"{emulator.accounts_base}/api/token"
    app = (emulator.client_id, emulator.client_secret)
    old, alice = emulator.refresh_token("alice"), spotify(emulator, "alice")

    def refresh(token):
        return requests.post(url, auth=app, data={"grant_type": "refresh_token", "refresh_token": token})

    emulator.advance_clock(days=181)
    assert refresh(old).status_code == 200  # refreshing works, and does not extend the lifetime
    emulator.advance_clock(days=1, seconds=1)
    answer = refresh(old)
    assert (answer.status_code, answer.json()) == (
        400,
        {"error": "invalid_grant", "error_description": "Refresh token expired"},
    )
    with pytest.raises(SpotifyOauthError) as caught:  # what spotipy makes of it
        alice.current_user()
    assert (caught.value.error, caught.value.error_description) == ("invalid_grant", "Refresh token expired")
    fresh = emulator.refresh_token("alice")  # asking again stands for authorizing again: a new lifetime
    assert fresh != old and refresh(fresh).status_code == 200
    assert refresh(old).status_code == 400
    with pytest.raises(DataError, match="only moves forward"):
        emulator.advance_clock(days=-1)


def test_access_tokens_age_on_the_emulator_clock(emulator):
    headers = bearer(emulator)
    assert requests.get(f"{emulator.api_base}/me", headers=headers).status_code == 200
    emulator.advance_clock(seconds=3600)
    answer = requests.get(f"{emulator.api_base}/me", headers=headers)
    assert (answer.status_code, answer.json()["error"]["message"]) == (401, "The access token expired")


def test_a_development_mode_app_admits_five_people():
    from emulator import generate

    library = generate(people=7, tracks=30, seed=3)
    names = [p.name for p in library.people]
    with Emulator(library) as emu:
        for name in names[:5]:
            assert spotify(emu, name).current_user()["id"] == library.person(name).user_id
        sixth = spotify(emu, names[5])
        for call in (sixth.current_user, sixth.current_user_saved_tracks):
            error = spotify_error(call)
            assert error.http_status == 403
        answer = requests.get(f"{emu.api_base}/me", headers=bearer(emu, names[5]))
        assert answer.json() == {
            "error": {
                "status": 403,
                "message": "Check settings on developer.spotify.com/dashboard, the user may not be registered.",
            }
        }
        emu.add_client("own-app", "own-secret")  # the sixth person with an app of their own
        own = {"grant_type": "refresh_token", "refresh_token": emu.refresh_token(names[5], client_id="own-app")}
        token = requests.post(f"{emu.accounts_base}/api/token", auth=("own-app", "own-secret"), data=own).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        assert requests.get(f"{emu.api_base}/me", headers=headers).json()["id"] == library.person(names[5]).user_id
    with Emulator(library, people_per_app=None) as emu:  # an extended-quota app: no such limit
        assert all(spotify(emu, name).current_user() for name in names)


def test_token_endpoint_checks_the_app_and_the_grant(emulator):
    url = f"{emulator.accounts_base}/api/token"
    refresh = {"grant_type": "refresh_token", "refresh_token": emulator.refresh_token("alice")}
    app = (emulator.client_id, emulator.client_secret)

    def post(status, error, description, **kwargs):
        answer = requests.post(url, **kwargs)
        assert answer.status_code == status, answer.text
        if error:
            assert answer.json() == {"error": error, "error_description": description}
        return answer

    post(400, "invalid_client", "Invalid client", data=refresh, auth=(emulator.client_id, "wrong"))
    post(400, "invalid_client", "Invalid client", data=refresh)
    post(200, None, None, data={**refresh, "client_id": app[0], "client_secret": app[1]})  # form auth works too
    post(400, "invalid_grant", "Invalid refresh token", data={**refresh, "refresh_token": "AQnope"}, auth=app)
    post(400, "unsupported_grant_type", "grant_type parameter is missing", json=refresh, auth=app)  # form only
    assert (
        post(400, None, None, data={"grant_type": "client_credentials"}, auth=app).json()["error"]
        == "unsupported_grant_type"
    )
    # A refresh token belongs to the app it was issued to (per-person apps must not mix them up).
    emulator.add_client("second-app", "second-secret")
    post(400, "invalid_grant", "Invalid refresh token", data=refresh, auth=("second-app", "second-secret"))
    own = {"grant_type": "refresh_token", "refresh_token": emulator.refresh_token("alice", client_id="second-app")}
    post(200, None, None, data=own, auth=("second-app", "second-secret"))
    with pytest.raises(DataError):
        emulator.refresh_token("alice", client_id="no-such-app")


def test_authorization_code_flow_through_spotipy(emulator, sample_library):
    manager = oauth(emulator, state="xyz")
    login = requests.get(manager.get_authorize_url() + "&user=bob", allow_redirects=False)
    assert login.status_code == 302
    redirected = login.headers["Location"]
    assert redirected.startswith(f"{REDIRECT_URI}?")
    state, code = SpotifyOAuth.parse_auth_response_url(redirected)
    assert state == "xyz"
    manager.get_access_token(code, as_dict=False, check_cache=False)
    assert manager.cache_handler.token_info["refresh_token"] == emulator.refresh_token("bob")
    assert client(emulator, manager).current_user()["id"] == sample_library.person("bob").user_id
    with pytest.raises(SpotifyOauthError) as caught:  # a code works once
        manager.get_access_token(code, as_dict=False, check_cache=False)
    assert (caught.value.error, caught.value.error_description) == ("invalid_grant", "Invalid authorization code")


def test_authorization_code_needs_the_same_redirect_uri(emulator):
    login = requests.get(oauth(emulator).get_authorize_url(), allow_redirects=False)
    _, code = SpotifyOAuth.parse_auth_response_url(login.headers["Location"])
    answer = requests.post(
        f"{emulator.accounts_base}/api/token",
        auth=(emulator.client_id, emulator.client_secret),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1:9999/other"},
    )
    assert answer.json() == {"error": "invalid_grant", "error_description": "Invalid redirect URI"}
    assert [r["person"] for r in emulator.requests("authorize")] == ["alice"]  # the first person by default


@pytest.mark.parametrize(
    "redirect_uri", ["https://example.com/callback", "http://127.0.0.1:8765/callback", "http://[::1]:8765/cb"]
)
def test_authorize_accepts_https_and_loopback_http(emulator, redirect_uri):
    params = {"client_id": emulator.client_id, "response_type": "code", "redirect_uri": redirect_uri, "scope": SCOPE}
    answer = requests.get(f"{emulator.accounts_base}/authorize", params=params, allow_redirects=False)
    assert answer.status_code == 302 and answer.headers["Location"].startswith(f"{redirect_uri}?code=")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"redirect_uri": "http://localhost:8765/callback"}, "INVALID_CLIENT: Insecure redirect URI"),
        ({"redirect_uri": "http://example.com/callback"}, "INVALID_CLIENT: Insecure redirect URI"),
        ({"redirect_uri": "https://localhost/callback"}, "INVALID_CLIENT: Insecure redirect URI"),
        ({"redirect_uri": ""}, "INVALID_CLIENT: Invalid redirect URI"),
        ({"client_id": "someone-else"}, "INVALID_CLIENT: Invalid client"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"user": "mallory"}, "no person 'mallory' in the library; known: alice, bob"),
    ],
)
def test_authorize_refuses(emulator, change, message):
    params = {
        "client_id": emulator.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
        **change,
    }
    answer = requests.get(f"{emulator.accounts_base}/authorize", params=params, allow_redirects=False)
    assert (answer.status_code, answer.json()) == (400, {"error": {"status": 400, "message": message}})


def test_saved_tracks_need_the_library_scope(emulator):
    manager = oauth(emulator, scope="user-read-email")
    login = requests.get(manager.get_authorize_url(), allow_redirects=False)
    manager.get_access_token(manager.parse_response_code(login.headers["Location"]), as_dict=False)
    sp = client(emulator, manager)
    assert sp.current_user()["type"] == "user"
    error = spotify_error(sp.current_user_saved_tracks)
    assert error.http_status == 403 and "Insufficient client scope" in error.msg


# -- playlists (the 2026 endpoints) -----------------------------------------------------

READ_AND_WRITE = "user-library-read playlist-modify-private playlist-read-private"


def scoped_bearer(emu: Emulator, name: str, scope: str) -> dict[str, str]:
    """A bearer header from a login of `name` that granted exactly `scope`."""
    token = emu.authorize_again(name, scope=scope)
    answer = requests.post(
        f"{emu.accounts_base}/api/token",
        auth=(emu.client_id, emu.client_secret),
        data={"grant_type": "refresh_token", "refresh_token": token},
    )
    assert answer.json()["scope"] == scope
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def new_playlist(emu: Emulator, headers: dict, **body) -> requests.Response:
    return requests.post(
        f"{emu.api_base}/me/playlists", json={"name": "Mine", "public": False, **body}, headers=headers
    )


def uris(track_ids) -> list[str]:
    return [f"spotify:track:{track_id}" for track_id in track_ids]


def test_a_playlist_is_made_replaced_appended_and_read_in_2026_shapes(emulator, sample_library):
    alice = scoped_bearer(emulator, "alice", READ_AND_WRITE)
    made = new_playlist(emulator, alice, description="for tests")
    assert made.status_code == 201
    playlist = made.json()
    assert {k: playlist[k] for k in ("name", "public", "description", "type")} == {
        "name": "Mine",
        "public": False,
        "description": "for tests",
        "type": "playlist",
    }
    assert playlist["owner"]["id"] == sample_library.person("alice").user_id
    assert playlist["items"]["total"] == 0 and playlist["uri"] == f"spotify:playlist:{playlist['id']}"
    items_url = f"{emulator.api_base}/playlists/{playlist['id']}/items"
    ids = list(sample_library.tracks)[:130]
    replaced = requests.put(items_url, json={"uris": uris(ids[:100])}, headers=alice)
    added = requests.post(items_url, json={"uris": uris(ids[100:])}, headers=alice)
    assert (replaced.status_code, added.status_code) == (200, 201)
    assert replaced.json()["snapshot_id"] != added.json()["snapshot_id"]
    page = requests.get(items_url, params={"limit": 50, "offset": 100}, headers=alice).json()
    assert page["total"] == 130 and page["next"] is None and page["previous"]
    assert [entry["item"]["id"] for entry in page["items"]] == ids[100:]  # under `item`, as in 2026
    assert set(page["items"][0]["item"]) == TRACK_KEYS and page["items"][0]["is_local"] is False
    assert emulator.playlists_of("alice") == {
        "alice": [{"id": playlist["id"], "name": "Mine", "description": "for tests", "public": False, "track_ids": ids}]
    }
    requests.put(items_url, json={"uris": uris(ids[:3])}, headers=alice)  # PUT replaces the whole list
    assert emulator.playlists_of()["alice"][0]["track_ids"] == ids[:3]
    mine = requests.get(f"{emulator.api_base}/me/playlists", headers=alice).json()
    assert [p["id"] for p in mine["items"]] == [playlist["id"]] and mine["items"][0]["items"]["total"] == 3


@pytest.mark.parametrize(
    "body, message",
    [
        ({"uris": ["spotify:track:x"] * 101}, "You can add a maximum of 100 tracks per request."),
        ({"uris": ["spotify:album:4aawyAB9vmqN3uQ7FjRGTy"]}, "Invalid track uri: spotify:album:4aawyAB9vmqN3uQ7FjRGTy"),
        ({"uris": ["spotify:track:0000000000000000000000"]}, "Payload contains a non-existing ID"),
        ({}, "Missing required field: uris"),
    ],
)
def test_playlist_items_are_checked_like_spotify_does(emulator, body, message):
    alice = bearer(emulator, "alice")
    items_url = f"{emulator.api_base}/playlists/{new_playlist(emulator, alice).json()['id']}/items"
    for method in ("PUT", "POST"):
        answer = requests.request(method, items_url, json=body, headers=alice)
        assert (answer.status_code, answer.json()["error"]["message"]) == (400, message)


def test_playlists_need_their_scope_and_their_owner(emulator, sample_library):
    alice, bob = bearer(emulator, "alice"), bearer(emulator, "bob")
    made = new_playlist(emulator, alice).json()
    items_url = f"{emulator.api_base}/playlists/{made['id']}/items"
    track = uris(list(sample_library.tracks)[:1])
    assert requests.put(items_url, json={"uris": track}, headers=bob).status_code == 403  # not his
    assert requests.get(items_url, headers=alice).json()["error"]["message"] == "Insufficient client scope"
    assert new_playlist(emulator, alice, public=True).status_code == 403  # public needs playlist-modify-public
    assert new_playlist(emulator, alice, public=None).status_code == 400
    old = scoped_bearer(emulator, "alice", "user-library-read")  # a login from before playlists
    for answer in (new_playlist(emulator, old), requests.put(items_url, json={"uris": track}, headers=old)):
        assert answer.status_code == 403 and answer.json()["error"]["message"] == "Insufficient client scope"
    assert requests.post(f"{emulator.api_base}/me/playlists", json={}, headers=alice).status_code == 400
    assert requests.delete(items_url, headers=alice).status_code == 405


def test_a_deleted_playlist_leaves_the_library_and_stays_writable_as_in_spotify(emulator, sample_library):
    alice = scoped_bearer(emulator, "alice", READ_AND_WRITE)
    kept, made = new_playlist(emulator, alice).json(), new_playlist(emulator, alice).json()
    deleted = requests.delete(f"{emulator.url}/admin/playlists", json={"id": made["id"]})
    assert deleted.json() == {"deleted": True}
    track = list(sample_library.tracks)[:2]
    items_url = f"{emulator.api_base}/playlists/{made['id']}/items"
    answer = requests.put(items_url, json={"uris": uris(track)}, headers=alice)
    assert answer.status_code == 200  # Spotify keeps it: its owner still writes to it
    assert [e["item"]["id"] for e in requests.get(items_url, headers=alice).json()["items"]] == track
    mine = requests.get(f"{emulator.api_base}/me/playlists", headers=alice).json()
    assert [p["id"] for p in mine["items"]] == [kept["id"]]
    contains = requests.get(
        f"{emulator.api_base}/me/library/contains", params={"uris": f"{kept['uri']},{made['uri']}"}, headers=alice
    )
    assert contains.json() == [True, False]
    assert requests.get(f"{emulator.url}/admin/playlists").json() == {"alice": [_view(kept)], "bob": []}
    one = requests.get(f"{emulator.url}/admin/playlists", params={"id": made["id"]}).json()
    assert one == {**_view(made), "track_ids": track, "owner": "alice", "in_library": False}
    assert emulator.playlist(kept["id"])["in_library"] is True
    never = requests.put(f"{emulator.api_base}/playlists/{'0' * 22}/items", json={"uris": []}, headers=alice)
    assert (never.status_code, never.json()["error"]["message"]) == (404, "Not found.")  # never existed
    assert requests.delete(f"{emulator.url}/admin/playlists", json={"id": "nope"}).status_code == 400
    assert requests.get(f"{emulator.url}/admin/playlists", params={"id": "nope"}).status_code == 400
    assert emulator.delete_playlist(made["id"]) is False  # already out of the library


def _view(playlist: dict) -> dict:
    return {k: playlist[k] for k in ("id", "name", "description", "public")} | {"track_ids": []}


def test_library_contains_answers_liked_songs_and_playlists_in_order(emulator, sample_library):
    alice = bearer(emulator, "alice")
    url = f"{emulator.api_base}/me/library/contains"
    liked = {like.track_id for like in sample_library.likes_of("alice")}
    loved, other = next(iter(liked)), next(t for t in sample_library.tracks if t not in liked)
    bobs = new_playlist(emulator, bearer(emulator, "bob")).json()["uri"]
    album = "spotify:album:4aawyAB9vmqN3uQ7FjRGTy"
    asked = [f"spotify:track:{other}", f"spotify:track:{loved}", album, bobs]
    answer = requests.get(url, params={"uris": ",".join(asked)}, headers=alice)
    assert (answer.status_code, answer.json()) == (200, [False, True, False, False])  # bob's is not in hers
    emulator.remove_like("alice", loved)
    assert requests.get(url, params={"uris": f"spotify:track:{loved}"}, headers=alice).json() == [False]
    for bad in ([f"spotify:track:{loved}"] * 41, ["spotify:track:short"], ["spotify:concert:" + "0" * 22], [""]):
        refused = requests.get(url, params={"uris": ",".join(bad)}, headers=alice)
        assert refused.status_code == 400 and refused.json()["error"]["message"], bad
    assert requests.get(url, params={"uris": ",".join([album] * 40)}, headers=alice).json() == [False] * 40
    assert requests.get(url, headers=alice).status_code == 400
    no_library = scoped_bearer(emulator, "alice", "playlist-modify-private")
    refused = requests.get(url, params={"uris": album}, headers=no_library)
    assert (refused.status_code, refused.json()["error"]["message"]) == (403, "Insufficient client scope")


def test_playlists_are_kept_in_the_library_file(emulator, sample_library, tmp_path):
    alice = bearer(emulator, "alice")
    made = new_playlist(emulator, alice).json()
    track = list(sample_library.tracks)[:2]
    requests.put(f"{emulator.api_base}/playlists/{made['id']}/items", json={"uris": uris(track)}, headers=alice)
    sample_library.save(tmp_path / "library.json")
    with Emulator(Library.load(tmp_path / "library.json")) as tomorrow:
        assert tomorrow.playlists_of("alice")["alice"][0]["track_ids"] == track


# -- faults -------------------------------------------------------------------------------


def test_every_nth_call_is_rate_limited(emulator):
    emulator.rate_limit("me", every=3, retry_after=0, times=2)
    headers = bearer(emulator)
    statuses = [requests.get(f"{emulator.api_base}/me", headers=headers).status_code for _ in range(8)]
    assert statuses == [200, 200, 429, 200, 200, 429, 200, 200]


def test_spotipy_sees_retry_after_and_reason_and_the_window_holds(emulator):
    emulator.rate_limit("tracks", every=2, retry_after=3600, reason="QUOTA_EXCEEDED", times=1)
    sp = spotify(emulator)
    assert sp.current_user_saved_tracks()["total"] == 120
    for _ in range(2):  # the second 429 is the open window, not the every-2nd rule
        error = spotify_error(sp.current_user_saved_tracks)
        assert (error.http_status, error.reason) == (429, "QUOTA_EXCEEDED")
        assert 3599 <= int(error.headers["Retry-After"]) <= 3600
    answer = requests.get(f"{emulator.api_base}/me/tracks", headers=bearer(emulator))
    assert answer.json() == {"error": {"status": 429, "message": "API rate limit exceeded", "reason": "QUOTA_EXCEEDED"}}
    assert [r["status"] for r in emulator.requests("tracks")] == [200, 429, 429, 429]


def test_a_client_that_honours_retry_after_gets_through(emulator):
    emulator.rate_limit("me", every=1, retry_after=1, times=1)
    url, headers = f"{emulator.api_base}/me", bearer(emulator)
    first = requests.get(url, headers=headers)
    assert (first.status_code, first.headers["Retry-After"]) == (429, "1")
    started = time.monotonic()
    assert requests.get(url, headers=headers).status_code == 429  # too early: still inside the window
    time.sleep(int(first.headers["Retry-After"]))  # the polite client under test: it waits as told
    assert requests.get(url, headers=headers).status_code == 200
    assert time.monotonic() - started >= 1
    assert [r["status"] for r in emulator.requests("me")] == [429, 429, 200]


def test_a_burst_of_503_then_service_again(emulator):
    emulator.fail("tracks", status=503, count=2)
    sp = spotify(emulator)
    for _ in range(2):
        assert spotify_error(sp.current_user_saved_tracks).http_status == 503
    assert sp.current_user_saved_tracks()["total"] == 120
    assert [r["status"] for r in emulator.requests("tracks")] == [503, 503, 200]


@pytest.mark.parametrize(
    "status, phrase", [(500, "Internal Server Error"), (502, "Bad Gateway"), (504, "Gateway Timeout")]
)
def test_server_errors_have_spotify_shape(emulator, status, phrase):
    emulator.fail("token", status=status)
    answer = requests.post(f"{emulator.accounts_base}/api/token", data={"grant_type": "refresh_token"})
    assert (answer.status_code, answer.json()) == (status, {"error": {"status": status, "message": phrase}})


def test_html_error_page_as_a_proxy_sends_it(emulator):
    emulator.fail("me", status=500, html=True)
    answer = requests.get(f"{emulator.api_base}/me", headers=bearer(emulator))
    assert answer.status_code == 500 and answer.headers["Content-Type"].startswith("text/html")
    assert "<h1>500 Internal Server Error</h1>" in answer.text
    with pytest.raises(ValueError):
        answer.json()
    emulator.fail("me", status=502, html=True)
    error = spotify_error(spotify(emulator).current_user)
    assert error.http_status == 502 and "<html>" in error.msg


def test_malformed_json_body(emulator):
    emulator.malformed("tracks")
    url, headers = f"{emulator.api_base}/me/tracks", bearer(emulator)
    broken = requests.get(url, headers=headers)
    assert broken.status_code == 200 and len(broken.content) == int(broken.headers["Content-Length"]) > 0
    with pytest.raises(ValueError):
        broken.json()
    assert requests.get(url, headers=headers).json()["total"] == 120  # only the next call was broken
    emulator.malformed("tracks")
    # spotipy swallows the decoding error and returns None: a client must check for that.
    assert spotify(emulator).current_user_saved_tracks() is None


def test_connection_reset_without_an_answer(emulator):
    emulator.reset_connections("me", count=2)
    url, headers = f"{emulator.api_base}/me", bearer(emulator)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url, headers=headers)
    with pytest.raises(requests.exceptions.ConnectionError):  # spotipy lets it through as is
        spotify(emulator).current_user()
    assert requests.get(url, headers=headers).status_code == 200
    assert [r["status"] for r in emulator.requests("me")] == [0, 0, 200]


def test_latency_delays_every_answer(emulator):
    url, headers = f"{emulator.api_base}/me", bearer(emulator)
    emulator.latency("me", 0.3)
    for _ in range(2):
        started = time.monotonic()
        assert requests.get(url, headers=headers).status_code == 200
        assert time.monotonic() - started >= 0.3
    emulator.latency("me", 0)
    started = time.monotonic()
    requests.get(url, headers=headers)
    assert time.monotonic() - started < 0.3


def test_a_development_mode_app_gets_403_from_audio_features_even_after_clear_faults(emulator, sample_library):
    ids = ",".join(list(sample_library.tracks)[:3])
    url = f"{emulator.api_base}/audio-features"
    for _ in range(2):
        answer = requests.get(url, params={"ids": ids}, headers=bearer(emulator))
        assert answer.status_code == 403 and answer.json() == {"error": {"status": 403}}  # no message at all
        emulator.clear_faults()


@EXTENDED_QUOTA
def test_an_extended_quota_app_still_gets_audio_features_after_clear_faults(emulator, sample_library):
    url = f"{emulator.api_base}/audio-features"
    emulator.deprecate_audio_features()
    emulator.clear_faults()
    assert (
        requests.get(url, params={"ids": list(sample_library.tracks)[0]}, headers=bearer(emulator)).status_code == 200
    )


@EXTENDED_QUOTA
def test_audio_features_deprecated_as_for_new_apps(emulator, sample_library):
    ids = list(sample_library.tracks)[:3]
    url = f"{emulator.api_base}/audio-features"
    emulator.deprecate_audio_features()
    answer = requests.get(url, params={"ids": ",".join(ids)}, headers=bearer(emulator))
    assert answer.status_code == 403 and answer.json() == {"error": {"status": 403}}  # no message at all
    error = spotify_error(lambda: spotify(emulator).audio_features(ids))
    assert error.http_status == 403 and error.reason is None
    assert requests.get(url, params={"ids": ids[0]}).status_code == 401  # the token is still checked first
    emulator.deprecate_audio_features(on=False)
    assert requests.get(url, params={"ids": ",".join(ids)}, headers=bearer(emulator)).status_code == 200


def test_unregistered_user_is_refused(emulator, sample_library):
    emulator.unregister("bob")
    bob = spotify(emulator, "bob")
    for call in (bob.current_user, bob.current_user_saved_tracks):
        error = spotify_error(call)
        assert error.http_status == 403 and "User not registered in the Developer Dashboard" in error.msg
    answer = requests.get(f"{emulator.api_base}/me", headers=bearer(emulator, "bob"))
    assert answer.json() == {"error": {"status": 403, "message": "User not registered in the Developer Dashboard"}}
    assert spotify(emulator, "alice").current_user_saved_tracks()["total"] == 120
    emulator.clear_faults()
    assert bob.current_user()["id"] == sample_library.person("bob").user_id


def test_refuse_answers_client_errors_then_serves_again(emulator):
    url = f"{emulator.reccobeats_base}/audio-features"
    emulator.refuse("reccobeats", status=403, count=2)
    answers = [requests.get(url, params={"ids": "0" * 22}) for _ in range(3)]
    assert [a.status_code for a in answers] == [403, 403, 200]
    assert answers[0].json() == {"error": {"status": 403, "message": "Forbidden"}}
    for status in (429, 503):
        with pytest.raises(DataError, match="4xx client error other than 429"):
            emulator.refuse("reccobeats", status=status)


def test_fault_switches_check_their_arguments(emulator):
    with pytest.raises(DataError, match="no endpoint 'playlists'"):
        emulator.fail("playlists")
    with pytest.raises(DataError):
        emulator.fail("me", status=404)
    with pytest.raises(DataError):
        emulator.rate_limit("me", every=0)
    with pytest.raises(DataError, match="no person 'mallory'"):
        emulator.revoke("mallory")


# -- odd items in /me/tracks ------------------------------------------------------------------


def newest_item(emu: Emulator, name: str = "alice") -> dict:
    page = spotify(emu, name).current_user_saved_tracks(limit=1)
    assert page["total"] == 121
    assert page["items"][0]["added_at"] == NEWEST
    return page["items"][0]


def test_quirk_null_track(emulator):
    assert emulator.add_quirk("alice", "null_track", added_at=NEWEST) is None
    assert newest_item(emulator) == {"added_at": NEWEST, "track": None}


def test_quirk_local_file(emulator):
    emulator.add_quirk("alice", "local_file", added_at=NEWEST)
    track = newest_item(emulator)["track"]
    assert (track["id"], track["is_local"], track["type"]) == (None, True, "track")
    assert track["uri"].startswith("spotify:local:") and track["name"]


def test_quirk_podcast_episode(emulator):
    episode_id = emulator.add_quirk("alice", "episode", added_at=NEWEST)
    episode = newest_item(emulator)["track"]
    assert (episode["type"], episode["id"], episode["uri"]) == ("episode", episode_id, f"spotify:episode:{episode_id}")


def test_quirk_duplicate(emulator, sample_library):
    newest_like = sample_library.likes_of("alice")[0].track_id
    assert emulator.add_quirk("alice", "duplicate", added_at=NEWEST) == newest_like
    assert newest_item(emulator)["track"]["id"] == newest_like
    ids = [item["track"]["id"] for item in all_items(spotify(emulator))]
    assert ids.count(newest_like) == 2 and len(ids) == 121


def test_quirk_missing_album_is_a_real_new_like(emulator, sample_library):
    track_id = emulator.add_quirk("alice", "missing_album", added_at=NEWEST)
    track = newest_item(emulator)["track"]
    assert track["id"] == track_id and "album" not in track and "artists" not in track
    assert track_id in {like.track_id for like in sample_library.likes_of("alice")}


def test_quirk_non_ascii_names(emulator):
    track_id = emulator.add_quirk("alice", "non_ascii", added_at=NEWEST)
    track = newest_item(emulator)["track"]
    assert track["id"] == track_id
    assert not track["name"].isascii() and not track["artists"][0]["name"].isascii()
    raw = requests.get(f"{emulator.api_base}/me/tracks", params={"limit": 1}, headers=bearer(emulator))
    assert "charset=utf-8" in raw.headers["Content-Type"] and track["name"].encode("utf-8") in raw.content


def test_quirks_are_checked(emulator):
    assert set(QUIRKS) == {"null_track", "local_file", "episode", "duplicate", "missing_album", "non_ascii"}
    with pytest.raises(DataError, match="no quirk 'cover_song'"):
        emulator.add_quirk("alice", "cover_song")
    with pytest.raises(DataError):
        emulator.add_quirk("mallory", "null_track")


def test_likes_change_while_the_emulator_runs(emulator, sample_library):
    sp = spotify(emulator)
    before = [item["track"]["id"] for item in all_items(sp)]  # fills the emulator's cache
    new_id = emulator.add_like("alice")  # a brand-new track drawn from her taste
    assert new_id in sample_library.tracks and new_id not in before
    bobs_oldest = sample_library.likes_of("bob")[-1].track_id
    assert emulator.add_like("alice", bobs_oldest, added_at="2000-01-01T00:00:00Z") == bobs_oldest
    after = [item["track"]["id"] for item in all_items(sp)]
    assert after == [new_id] + before + [bobs_oldest]
    assert emulator.remove_like("alice", new_id) is True
    assert emulator.remove_like("alice", new_id) is False
    assert [item["track"]["id"] for item in all_items(sp)] == before + [bobs_oldest]
    with pytest.raises(DataError):
        emulator.add_like("alice", added_at="yesterday")
    with pytest.raises(DataError):
        emulator.add_like("mallory")


def test_parallel_clients_each_see_their_own_likes(emulator, sample_library):
    names = ["alice", "bob"] * 3
    with ThreadPoolExecutor(len(names)) as pool:
        results = list(pool.map(lambda name: [i["track"]["id"] for i in all_items(spotify(emulator, name))], names))
    for name, ids in zip(names, results):
        assert ids == [like.track_id for like in sample_library.likes_of(name)]


# -- audio features ---------------------------------------------------------------------------


@EXTENDED_QUOTA
def test_audio_features_in_the_order_asked_with_nulls(emulator, sample_library):
    rows = sample_library.tracks
    known = [t for t, row in rows.items() if "spotify" in row["known_by"]][:3]
    not_at_spotify = next(t for t, row in rows.items() if "spotify" not in row["known_by"])
    unknown = "0" * 22
    ids = [known[0], not_at_spotify, known[1], unknown, known[2], known[0]]
    features = spotify(emulator).audio_features(ids)  # spotipy asks /audio-features/?ids=...
    assert [f and f["id"] for f in features] == [known[0], None, known[1], None, known[2], known[0]]
    first, row = features[0], rows[known[0]]
    assert set(first) == FEATURE_KEYS
    assert {name: first[name] for name in row["features"]} == row["features"]
    assert (first["duration_ms"], first["type"], first["uri"]) == (
        row["duration_ms"],
        "audio_features",
        f"spotify:track:{known[0]}",
    )
    assert emulator.requests("audio_features")[-1]["path"] == "/v1/audio-features/"
    plain = requests.get(f"{emulator.api_base}/audio-features", params={"ids": ",".join(ids)}, headers=bearer(emulator))
    assert plain.json() == {"audio_features": features}


@EXTENDED_QUOTA
@pytest.mark.parametrize(
    "params, message",
    [
        ({"ids": ",".join(["0" * 22] * 101)}, "Too many ids requested"),
        ({"ids": "not-a-spotify-id"}, "invalid request"),
        ({"ids": ""}, "Missing required parameter: ids"),
        ({}, "Missing required parameter: ids"),
    ],
)
def test_audio_features_limits(emulator, params, message):
    answer = requests.get(f"{emulator.api_base}/audio-features", params=params, headers=bearer(emulator))
    assert (answer.status_code, answer.json()) == (400, {"error": {"status": 400, "message": message}})


@EXTENDED_QUOTA
def test_one_hundred_ids_are_fine(emulator, sample_library):
    ids = list(sample_library.tracks)[:100]
    assert len(spotify(emulator).audio_features(ids)) == 100


def test_reccobeats_shape(emulator, sample_library):
    rows = sample_library.tracks
    known = [t for t, row in rows.items() if "reccobeats" in row["known_by"]][:5]
    missing = next(t for t, row in rows.items() if "reccobeats" not in row["known_by"])
    url = f"{emulator.reccobeats_base}/audio-features"
    answer = requests.get(url, params={"ids": ",".join([missing, *known, "0" * 22])})  # no key, no token
    assert answer.status_code == 200 and set(answer.json()) == {"content"}
    content = answer.json()["content"]
    by_spotify_id = {item["href"].removeprefix("https://open.spotify.com/track/"): item for item in content}
    assert set(by_spotify_id) == set(known)  # the unknown ones are simply left out
    # Its own order, not the order asked: a client must match items by href, never by position.
    assert [item["id"] for item in content] == sorted(item["id"] for item in content)
    assert list(by_spotify_id) != known
    for spotify_id, item in by_spotify_id.items():
        assert set(item) == {"id", "href", *RECCOBEATS_FIELDS}  # no time_signature, no duration_ms
        assert uuid.UUID(item["id"]) and spotify_id not in item["id"]
        assert {name: item[name] for name in RECCOBEATS_FIELDS} == {
            name: rows[spotify_id]["features"][name] for name in RECCOBEATS_FIELDS
        }
    too_many = requests.get(url, params={"ids": ",".join(list(rows)[:41])})
    assert too_many.status_code == 400
    assert [(r["status"], r["person"]) for r in emulator.requests("reccobeats")] == [(200, None), (400, None)]


# -- the request log and the admin endpoints ------------------------------------------------------


def test_request_log_counts_calls_and_keeps_no_secret(emulator):
    sp = spotify(emulator)
    sp.current_user()
    sp.current_user_saved_tracks(limit=50, offset=50)
    requests.get(f"{emulator.api_base}/me")
    requests.get(f"{emulator.url}/v1/nowhere")
    log = emulator.requests()
    assert [(e["method"], e["path"], e["endpoint"], e["status"], e["person"]) for e in log] == [
        ("POST", "/api/token", "token", 200, "alice"),
        ("GET", "/v1/me/", "me", 200, "alice"),  # the path as spotipy sends it
        ("GET", "/v1/me/tracks", "tracks", 200, "alice"),
        ("GET", "/v1/me", "me", 401, None),
        ("GET", "/v1/nowhere", None, 404, None),
    ]
    assert log[2]["query"] == {"limit": "50", "offset": "50"}
    assert [e["time"] for e in log] == sorted(e["time"] for e in log) and log[0]["time"] > 1.7e9
    everything = json.dumps(log)
    for secret in (
        emulator.refresh_token("alice"),
        sp.auth_manager.cache_handler.token_info["access_token"],
        emulator.client_secret,
    ):
        assert secret not in everything
    assert len(emulator.requests("tracks")) == 1
    assert emulator.clear_requests() == 5 and emulator.requests() == []


def test_env_points_the_project_at_the_emulator(sample_library):
    with Emulator(sample_library, client_id="my-app", client_secret="my-secret") as emu:
        assert emu.url.startswith("http://127.0.0.1:") and emu.port > 0
        assert emu.env() == {
            "SPOTIFY_API_BASE": f"{emu.url}/v1",
            "SPOTIFY_ACCOUNTS_BASE": emu.url,
            "RECCOBEATS_API_BASE": f"{emu.url}/reccobeats/v1",
            "SPOTIFY_CLIENT_ID": "my-app",
            "SPOTIFY_CLIENT_SECRET": "my-secret",
        }


def test_stop_hangs_up_kept_alive_connections(sample_library):
    emu = Emulator(sample_library).start()
    session, headers = requests.Session(), bearer(emu)
    assert session.get(f"{emu.api_base}/me", headers=headers).status_code == 200
    emu.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(f"{emu.api_base}/me", headers=headers)


def test_admin_people_client_and_unknown_paths(emulator, sample_library):
    admin = f"{emulator.url}/admin"
    assert requests.get(f"{admin}/people").json() == [
        {"name": p.name, "user_id": p.user_id, "refresh_token": emulator.refresh_token(p.name)}
        for p in sample_library.people
    ]
    assert requests.get(f"{admin}/client").json() == {"client_id": emulator.client_id}  # never the secret
    missing = requests.get(f"{admin}/secrets")
    assert (missing.status_code, missing.json()) == (404, {"error": {"status": 404, "message": "Service not found"}})


def test_admin_clock(emulator):
    clock, before = f"{emulator.url}/admin/clock", emulator.now()
    assert requests.get(clock).json()["now"] >= before
    token = emulator.refresh_token("alice")
    moved = requests.post(clock, json={"days": 183})
    assert moved.status_code == 200 and moved.json()["now"] >= before + 183 * 86400
    answer = requests.post(
        f"{emulator.accounts_base}/api/token",
        auth=(emulator.client_id, emulator.client_secret),
        data={"grant_type": "refresh_token", "refresh_token": token},
    )
    assert answer.json()["error_description"] == "Refresh token expired"
    for bad in ({}, {"weeks": 2}, {"days": "a lot"}, {"days": -1}):
        refused = requests.post(clock, json=bad)
        assert refused.status_code == 400 and refused.json()["error"]["message"], bad


def test_admin_faults(emulator):
    admin, me, headers = f"{emulator.url}/admin/faults", f"{emulator.api_base}/me", bearer(emulator)
    assert requests.post(admin, json={"action": "fail", "endpoint": "me", "status": 502}).status_code == 200
    assert [requests.get(me, headers=headers).status_code for _ in range(2)] == [502, 200]
    requests.post(admin, json={"action": "rate_limit", "endpoint": "me", "retry_after": 60, "reason": "QUOTA_EXCEEDED"})
    limited = requests.get(me, headers=headers)
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "60")
    assert requests.delete(admin).status_code == 200
    assert requests.get(me, headers=headers).status_code == 200
    requests.post(admin, json={"action": "revoke", "name": "alice"})
    assert requests.get(me, headers=headers).status_code == 401
    for bad in (
        {"action": "format_disk"},
        {"action": "fail", "endpoint": "me", "colour": "red"},
        {"action": "latency", "endpoint": "nowhere", "seconds": 1},
    ):
        answer = requests.post(admin, json=bad)
        assert answer.status_code == 400 and answer.json()["error"]["message"]
    assert requests.post(admin, data="{not json").status_code == 400


def test_every_route_has_its_faults_and_every_fault_action_its_method():
    assert sorted(route.endpoint for route in ROUTES.values()) == sorted(ENDPOINTS)
    for name, action in FAULT_ACTIONS.items():  # each admin action names its method's arguments
        parameters = inspect.signature(getattr(Emulator, name)).parameters
        assert list(parameters)[1:] == [*action.required, *action.optional], name
        assert all(parameters[field].default is inspect.Parameter.empty for field in action.required), name


def test_admin_likes_and_request_log(emulator, sample_library):
    admin = f"{emulator.url}/admin"
    new = requests.post(f"{admin}/likes", json={"person": "alice", "new": 2}).json()["track_ids"]
    bobs = sample_library.likes_of("bob")[0].track_id
    requests.post(f"{admin}/likes", json={"person": "alice", "track_id": bobs, "added_at": NEWEST})
    quirk = requests.post(f"{admin}/likes", json={"person": "alice", "quirk": "null_track"})
    assert quirk.json() == {"track_ids": [None]}
    items = all_items(spotify(emulator))
    assert (
        len(items) == 124
        and items[0]["track"]["id"] == bobs
        and set(new) <= {i["track"] and i["track"]["id"] for i in items}
    )
    assert requests.delete(f"{admin}/likes", json={"person": "alice", "track_id": new[0]}).json() == {"removed": True}
    assert requests.post(f"{admin}/likes", json={"person": "mallory", "new": 1}).status_code == 400
    assert requests.delete(f"{admin}/likes", json={"person": "alice"}).status_code == 400
    assert requests.get(f"{admin}/requests").json() == emulator.requests()  # admin calls are not logged
    assert [e["endpoint"] for e in requests.get(f"{admin}/requests", params={"endpoint": "tracks"}).json()] == [
        "tracks"
    ] * 3
    assert requests.delete(f"{admin}/requests").json() == {"cleared": 4}
    assert emulator.requests() == []


# -- the command line ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(process: subprocess.Popen, url: str, timeout: float = 30) -> None:
    """Poll until the emulator answers; the pause between polls also notices an early exit."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(url, timeout=1)
            return
        except requests.exceptions.ConnectionError:
            pass
        try:
            process.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            assert time.monotonic() < deadline, f"the emulator did not answer {url} within {timeout} s"
            continue
        raise AssertionError(f"the emulator exited early: {process.stderr.read()}")


def _serve_cli(path, port: int, env: dict, *flags: str) -> subprocess.Popen:
    """`python -m taskcode emulator` serving the library file at `path`, as the app "cli-app"."""
    command = ["-m", "taskcode", "emulator", "--port", str(port), "--library", str(path), "--client-id", "cli-app"]
    return subprocess.Popen(
        [sys.executable, *command, *flags],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def _ctrl_c(process: subprocess.Popen) -> tuple[str, str]:
    process.send_signal(signal.SIGINT)
    try:
        return process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()


@pytest.mark.parametrize("kind, audio_features", [([], 403), (["--extended-quota"], 200)], ids=["dev-mode", "extended"])
def test_cli_serves_a_library_file_until_ctrl_c(tmp_path, sample_library, kind, audio_features):
    path = tmp_path / "library.json"
    sample_library.save(path)
    port, secret = free_port(), "cli-secret-42"
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "SPOTIFY_CLIENT_SECRET": secret}
    process = _serve_cli(path, port, env, *kind)
    try:
        wait_until_serving(process, f"{base}/admin/client")
        assert requests.get(f"{base}/admin/client").json() == {"client_id": "cli-app"}
        alice = requests.get(f"{base}/admin/people").json()[0]
        token = requests.post(
            f"{base}/api/token",
            auth=("cli-app", secret),
            data={"grant_type": "refresh_token", "refresh_token": alice["refresh_token"]},
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        assert requests.get(f"{base}/v1/me/tracks", headers=headers).json()["total"] == 120
        ids = {"ids": next(iter(sample_library.tracks))}
        assert requests.get(f"{base}/v1/audio-features", params=ids, headers=headers).status_code == audio_features
    finally:
        out, err = _ctrl_c(process)
    assert process.returncode == 0, err
    assert f"export SPOTIFY_API_BASE={base}/v1" in out
    assert f"export SPOTIFY_ACCOUNTS_BASE={base}\n" in out
    assert f"export RECCOBEATS_API_BASE={base}/reccobeats/v1" in out
    assert "export SPOTIFY_CLIENT_ID=cli-app" in out
    assert secret not in out + err
    assert err == ""  # no access log on stderr


def test_cli_reports_a_bad_library_or_busy_port_in_one_line(tmp_path, sample_library):
    missing = run_cli("emulator", "--library", str(tmp_path / "nope.json"))
    assert missing.returncode == 6 and missing.stderr.startswith("error: cannot read the library")
    assert len(missing.stderr.strip().splitlines()) == 1
    sample_library.save(tmp_path / "library.json")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = run_cli("emulator", "--port", str(busy.getsockname()[1]), "--library", str(tmp_path / "library.json"))
    assert taken.returncode == 1 and taken.stderr.startswith("error: emulator: cannot listen on 127.0.0.1:")
    assert len(taken.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("flags, sixth_status", [([], 403), (["--people-per-app", "0"], 200)], ids=["five", "no-limit"])
def test_cli_serve_admits_five_people_unless_told_otherwise(tmp_path, flags, sixth_status):
    """A class served by hand (the README's recipe) needs every person; by default the app is as strict as Spotify."""
    path = tmp_path / "library.json"
    generate(people=6, tracks=5, seed=3).save(path)
    port, secret = free_port(), "cli-secret-6"
    base = f"http://127.0.0.1:{port}"
    process = _serve_cli(
        path, port, {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "SPOTIFY_CLIENT_SECRET": secret}, *flags
    )
    try:
        wait_until_serving(process, f"{base}/admin/client")
        statuses = []
        for person in requests.get(f"{base}/admin/people").json():
            token = requests.post(
                f"{base}/api/token",
                auth=("cli-app", secret),
                data={"grant_type": "refresh_token", "refresh_token": person["refresh_token"]},
            ).json()["access_token"]
            statuses.append(requests.get(f"{base}/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code)
    finally:
        out, err = _ctrl_c(process)
    assert process.returncode == 0, err
    assert statuses == [200] * 5 + [sixth_status]
    assert ("admitting 5 people" if sixth_status == 403 else "admitting everyone") in out
