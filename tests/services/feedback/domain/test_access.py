"""The role map and the authorization decision: which groups give which role on which program."""

from __future__ import annotations

import json

import pytest

from services.feedback.domain.access import (
    ADMIN,
    TANDEM_ADMIN,
    VIEWER,
    Grants,
    Level,
    RoleMap,
    RoleMapError,
)

MAP = RoleMap.parse(json.dumps({
    "tandem-admins": "tandem-admin",
    "p1-admins": {"p1": "program-admin"},
    "p1-viewers": {"p1": "program-viewer"},
    "emea-team": {"p2": "program-admin", "p3": "program-viewer"},
}))


@pytest.mark.parametrize(("groups", "program", "read", "act"), [
    (["p1-viewers"], "p1", True, False),
    (["p1-admins"], "p1", True, True),
    (["p1-admins"], "p2", False, False),
    (["p1-viewers"], "p2", False, False),
    (["emea-team"], "p3", True, False),
    (["emea-team"], "p2", True, True),
    (["tandem-admins"], "anything-at-all", True, True),
    ([], "p1", False, False),
    (["unknown-group"], "p1", False, False),
    # The strongest role wins, whatever the order of the groups.
    (["p1-viewers", "p1-admins"], "p1", True, True),
    (["p1-admins", "p1-viewers"], "p1", True, True),
    (["p1-viewers", "tandem-admins"], "p9", True, True),
])
def test_groups_give_the_strongest_role_per_program(groups, program, read, act):
    grants = MAP.grants(groups)
    assert (grants.can_read(program), grants.can_act(program)) == (read, act)


def test_only_tandem_admins_see_what_names_no_program():
    assert MAP.grants(["tandem-admins"]).sees_unassigned
    assert not MAP.grants(["p1-admins", "emea-team"]).sees_unassigned
    assert MAP.grants(["p1-viewers", "emea-team"]).readable(["p1", "p2", "p3", "p4"]) == ["p1", "p2", "p3"]
    assert MAP.grants(["nobody"]).readable(["p1", "p2"]) == [] and not MAP.grants(["nobody"]).any


def test_program_ids_are_compared_exactly():
    grants = MAP.grants(["p1-admins"])
    for near in ("P1", "p1 ", " p1", "p1/", "p\u200b1", "p1\u202e"):
        assert grants.level(near) is Level.NONE, near


@pytest.mark.parametrize(("role", "program", "read_p1", "act_p1", "read_p2"), [
    (VIEWER, "p1", True, False, False),
    (ADMIN, "p1", True, True, False),
    (TANDEM_ADMIN, None, True, True, True),
])
def test_an_api_tokens_role_is_its_grants(role, program, read_p1, act_p1, read_p2):
    grants = Grants.of_role(role, program)
    assert (grants.can_read("p1"), grants.can_act("p1"), grants.can_read("p2")) == (read_p1, act_p1, read_p2)


@pytest.mark.parametrize(("role", "program", "says"), [
    (VIEWER, None, "needs a program"), (ADMIN, "", "needs a program"), (TANDEM_ADMIN, "p1", "every program"),
    ("owner", "p1", "unknown role"), ("", "p1", "unknown role"),
])
def test_a_role_without_its_program_or_an_unknown_role_is_refused(role, program, says):
    with pytest.raises(RoleMapError, match=says):
        Grants.of_role(role, program)


@pytest.mark.parametrize(("text", "says"), [
    ("[]", "JSON object"),
    ("{not json", "not JSON"),
    ('{"g": "program-admin"}', "must map to"),
    ('{"g": {}}', "must map to"),
    ('{"g": {"p1": "owner"}}', "unknown role"),
    ('{"g": {"p1": "tandem-admin"}}', "unknown role"),
    ('{"g": {"": "program-viewer"}}', "empty program id"),
    ('{"": "tandem-admin"}', "group name is empty"),
    ("/no/such/role-map.json", "cannot be read"),
])
def test_a_bad_role_map_is_refused_with_a_reason(text, says):
    with pytest.raises(RoleMapError, match=says):
        RoleMap.parse(text)


def test_the_role_map_comes_from_json_or_a_file(tmp_path):
    assert not RoleMap.parse(None).grants(["tandem-admins"]).any
    assert not RoleMap.parse("  ").grants(["x"]).any
    path = tmp_path / "roles.json"
    path.write_text('{"ops": {"p1": "program-viewer"}}')
    assert RoleMap.parse(str(path)).grants(["ops"]).can_read("p1")


def test_grants_cannot_be_changed_after_the_fact():
    grants = MAP.grants(["p1-viewers"])
    with pytest.raises(TypeError):
        grants.programs["p2"] = ADMIN  # type: ignore[index]
