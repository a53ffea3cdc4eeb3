"""The local stack's random secrets: made once, kept readable by their owner only, the same for every
process that asks at once; and the operator's TANDEM_DB_PASSWORD_<SERVICE> wins."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor

from tandem.local.passwords import kept_secret, role_passwords, server_store

SERVICES = ("matching", "scheduling", "notifications", "feedback")


def test_role_passwords_are_random_kept_and_private(tmp_path):
    store = tmp_path / "db-passwords.json"
    first = role_passwords(SERVICES, store, environ={})
    assert set(first) == set(SERVICES) and len(set(first.values())) == 4
    assert all(len(p) >= 32 for p in first.values())
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert role_passwords(SERVICES, store, environ={}) == first  # the same on the next start
    other = role_passwords(SERVICES, tmp_path / "elsewhere.json", environ={})
    assert not set(other.values()) & set(first.values())  # never derived: another store, other passwords


def test_the_given_password_wins(tmp_path):
    given = role_passwords(SERVICES, tmp_path / "p.json", environ={"TANDEM_DB_PASSWORD_FEEDBACK": "given-one"})
    assert given["feedback"] == "given-one" and given["matching"] != "given-one"
    everything = {f"TANDEM_DB_PASSWORD_{s.upper()}": f"given-{s}" for s in SERVICES}
    assert role_passwords(SERVICES, tmp_path / "q.json", environ=everything) == {s: f"given-{s}" for s in SERVICES}
    assert not (tmp_path / "q.json").exists()  # nothing to keep


def test_processes_starting_together_agree(tmp_path):
    store = tmp_path / "db-passwords.json"
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: role_passwords(SERVICES, store, environ={}), range(16)))
    assert all(r == results[0] for r in results)
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: kept_secret(tmp_path / "link-key"), range(16)))
    assert len(keys) == 1 and stat.S_IMODE((tmp_path / "link-key").stat().st_mode) == 0o600


def test_a_server_named_by_a_url_keeps_its_passwords_under_its_address(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    store = server_store("postgresql://tandem:pw@10.1.2.3:6543/tandem")
    assert store == tmp_path / "tandem" / "db-passwords" / "10.1.2.3-6543.json"
    assert server_store("postgresql://tandem:other@10.1.2.3:6543/t_abc") == store  # any database, same server
