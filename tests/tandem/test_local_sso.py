"""`tandem up --sso`'s people, role map and refusals (tandem/local/sso.py, tandem/commands/up.py): what
can be checked without starting the stack. tests/e2e/test_up_sso.py runs the whole of it."""

from __future__ import annotations

import json

import pytest

import tandem.local.oidc
from services.feedback.domain.access import RoleMap
from tandem.cli import main
from tandem.local.sso import LocalSignOn, callback_uris, kept_people, people, role_map


def test_the_role_map_gives_each_local_person_their_role():
    roles = RoleMap.parse(json.dumps(role_map(["p1", "p2"])))
    grants = {login: roles.grants(person["groups"]) for login, person in people(["p1", "p2"]).items()}
    assert grants["admin"].everything
    assert grants["p1-admin"].can_act("p1") and not grants["p1-admin"].can_read("p2")
    assert grants["p1-viewer"].can_read("p1") and not grants["p1-viewer"].can_act("p1")
    assert not grants["p1-viewer"].can_read("p2") and grants["p2-viewer"].can_read("p2")


def test_passwords_are_random_kept_and_owner_only(tmp_path):
    path = tmp_path / "sso-people.json"
    first = kept_people(path, ["p1"])
    assert len({p["password"] for p in first.values()}) == 3 and not path.exists()  # kept once the provider runs
    path.write_text(json.dumps({"people": [{"login": login, **p} for login, p in first.items()]}))
    again = kept_people(path, ["p1", "p2"])
    assert {login: p["password"] for login, p in again.items() if login in first} == \
        {login: p["password"] for login, p in first.items()}
    assert again["p2-viewer"]["password"] not in {p["password"] for p in first.values()}
    path.write_text("not json")
    assert set(kept_people(path, ["p1"])) == set(first)  # an unreadable file: new passwords, no crash


def test_the_client_accepts_every_feedback_replica_by_either_loopback_name():
    assert callback_uris([8084, 8094]) == [
        "http://127.0.0.1:8084/dashboard/auth/callback", "http://localhost:8084/dashboard/auth/callback",
        "http://127.0.0.1:8094/dashboard/auth/callback", "http://localhost:8094/dashboard/auth/callback"]


def test_what_it_prints_names_the_people_and_the_file_never_a_password(tmp_path):
    provider = tandem.local.oidc.LocalOpenIDProvider(tmp_path, 9400, [], {})
    sign_on = LocalSignOn(provider, "client-secret", ["p1"], tmp_path / "sso-people.json", tmp_path / "oidc.log")
    assert sign_on.describe() == [
        "single sign-on: http://127.0.0.1:9400 (the local identity provider); people: admin, p1-admin, p1-viewer",
        f"their passwords: {tmp_path / 'sso-people.json'} (readable by you only)"]
    env = sign_on.env()
    assert env["TANDEM_OIDC_ISSUER"] == "http://127.0.0.1:9400" and env["TANDEM_OIDC_CLIENT_SECRET"] == "client-secret"
    assert json.loads(env["TANDEM_ROLE_MAP"]) == role_map(["p1"])


@pytest.mark.parametrize("argv, message", [
    (["up", "--sso-program", "p1"], "--sso-program needs --sso"),
    (["up", "--sso", "--no-services"], "cannot go with --no-services"),
    (["up", "--sso", "--sso-program", "p 1"], "--sso-program 'p 1': a program id is"),
])
def test_bad_options_stop_before_anything_starts(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TANDEM_HOME", str(tmp_path))
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_without_node_it_says_so_and_exits_non_zero(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TANDEM_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["up", "--sso"]) == 2
    assert "tandem up: error: --sso: Node.js (20.19 or newer) is needed" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_without_the_providers_packages_it_says_how_to_get_them(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TANDEM_HOME", str(tmp_path))
    monkeypatch.setattr(tandem.local.oidc, "SERVER", tmp_path / "oidc" / "server.mjs")
    assert main(["up", "--sso"]) == 2
    assert "packages are missing: run `make install`" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
