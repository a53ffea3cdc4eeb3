from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notifications.domain.links import ActionLink, LinkExpired, LinkMaker, LinkRefused, LinkSigner

NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)


def link(**changes) -> ActionLink:
    values = {"participant_id": "p-1", "subject_kind": "proposal", "subject_id": "prop-1", "action": "answer",
              "expires_at": NOW + timedelta(days=3)} | changes
    return ActionLink(**values)


def test_a_token_reads_back_as_the_link_it_was_made_for():
    signer = LinkSigner(["k1"])
    read = signer.read(signer.token(link()), NOW)
    assert read == link(expires_at=read.expires_at) and read.expires_at == NOW + timedelta(days=3)


def test_keys_rotate_two_accepted_while_one_is_retired():
    old, both, new = LinkSigner(["old"]), LinkSigner(["old", "new"]), LinkSigner(["new"])
    by_old, by_both = old.token(link()), both.token(link())
    assert both.read(by_old, NOW).participant_id == "p-1"  # issued before the rotation: still accepted
    assert new.read(by_both, NOW).participant_id == "p-1"  # the newest key, listed last, signs
    with pytest.raises(LinkRefused):
        new.read(by_old, NOW)  # once the old key is removed


@pytest.mark.parametrize("garbled", ["", "x", "a.b", "eyJhIjoxfQ.bad", "W10.sig", "🙂" * 20])
def test_anything_not_signed_by_us_is_refused(garbled):
    with pytest.raises(LinkRefused):
        LinkSigner(["k1"]).read(garbled, NOW)


def test_a_token_cannot_be_edited_for_someone_else():
    signer = LinkSigner(["k1"])
    token = signer.token(link())
    payload, signature = token.rsplit(".", 1)
    other = signer.token(link(participant_id="p-2")).rsplit(".", 1)[0]
    with pytest.raises(LinkRefused):
        signer.read(f"{other}.{signature}", NOW)
    assert payload != other


def test_an_expired_link_says_whose_it_was():
    signer = LinkSigner(["k1"])
    with pytest.raises(LinkExpired) as expired:
        signer.read(signer.token(link(expires_at=NOW - timedelta(seconds=1))), NOW)
    assert expired.value.link.participant_id == "p-1"


def test_a_double_click_is_one_command_and_each_choice_another():
    assert link().command_id("accept") == link(expires_at=NOW).command_id("accept")
    assert link().command_id("accept") != link().command_id("decline")
    assert link().command_id("accept") != link(participant_id="p-2").command_id("accept")
    assert link(variant="1").binding != link(variant="2").binding  # a moved meeting: a new link


def test_links_are_absolute_with_the_choice_already_made():
    url = LinkMaker(LinkSigner(["k1"]), "https://mentoring.example/").url(link(), "accept")
    assert url.startswith("https://mentoring.example/a/") and url.endswith("?choice=accept")


@pytest.mark.parametrize("keys", [["k1"], ["old", "new"]])
def test_tokens_are_itsdangerous_own_whatever_is_kept_between_them(keys):
    """The signer and its key are kept from one token to the next: every token is still one
    itsdangerous' URL-safe serializer makes (the same bytes but for the zlib stream's own, which
    `_same_but_for_compression` allows), compressed or not, and a link signed before reads back."""
    import hashlib

    from itsdangerous import URLSafeSerializer

    reference = URLSafeSerializer(keys, salt="tandem.action-link.v1", signer_kwargs={"digest_method": hashlib.sha256})
    signer = LinkSigner(keys)
    links = [link(participant_id=f"participant-{i:04}", subject_id=f"participant-{i:04}" if i % 2 else "s" * (i % 7),
                  variant="v" * (i % 3),
                  expires_at=NOW + timedelta(days=1 + i)) for i in range(40)]
    for each in links:
        token = signer.token(each)
        _same_but_for_compression(token, reference, [each.participant_id, each.subject_kind, each.subject_id,
                                                     each.action, int(each.expires_at.timestamp()), each.variant])
        assert signer.read(token, NOW) == each
    assert any(signer.token(each).startswith(".") for each in links)  # compressed ones among them


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=4, max_size=4), st.integers(0, 2**40), st.text(max_size=10),
       st.sampled_from([["k1"], ["old", "new"], ["ключ"]]))
def test_every_token_is_the_one_itsdangerous_makes_and_reads(words, expires, variant, keys):
    """Any values (beyond ASCII, repetitive enough to be compressed or not): the token is the URL-safe
    serializer's but for the zlib stream's bytes,
    and the serializer reads it back."""
    import hashlib

    from itsdangerous import URLSafeSerializer

    reference = URLSafeSerializer(keys, salt="tandem.action-link.v1", signer_kwargs={"digest_method": hashlib.sha256})
    values = [*words, expires, variant]
    token = LinkSigner(keys)._dumps(values)
    _same_but_for_compression(token, reference, values)
    assert reference.loads(token) == values


def _same_but_for_compression(token: str, reference, values: list) -> None:
    """`token` signs what the serializer's own token signs: the same payload (inflated where it is
    compressed), byte for byte the same token where neither is compressed, and signed so that the
    serializer reads it."""
    import base64
    import zlib

    def payload(token: str) -> bytes:
        body = token.rsplit(".", 1)[0]
        raw = base64.urlsafe_b64decode(body.lstrip(".") + "=" * (-len(body.lstrip(".")) % 4))
        return zlib.decompress(raw) if body.startswith(".") else raw

    theirs = reference.dumps(values)
    assert payload(token) == payload(theirs)
    if not (token.startswith(".") or theirs.startswith(".")):
        assert token == theirs
    assert reference.loads(token) == values
