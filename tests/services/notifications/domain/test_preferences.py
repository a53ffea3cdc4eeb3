"""The link to a person's notification preferences carries a signed token, not a guessable id."""

from services.notifications.domain.preferences import PreferenceLinks, participant_of, token


def test_a_token_names_its_participant_only_to_whoever_holds_the_secret():
    signed = token("p-000123", "s3cret")
    assert participant_of(signed, "s3cret") == "p-000123"
    assert participant_of(signed, "another") is None
    assert participant_of(signed.replace(signed[-4:], "AAAA"), "s3cret") is None
    assert participant_of("not a token", "s3cret") is None


def test_the_link_follows_the_configured_address():
    links = PreferenceLinks("https://portal.example/me/notifications?t={token}", "s3cret")
    url = links.for_participant("p-000123")
    assert url.startswith("https://portal.example/me/notifications?t=") and "p-000123" not in url
    assert PreferenceLinks("https://portal.example/people/{participant_id}", "x").for_participant("a b") == \
        "https://portal.example/people/a%20b"
