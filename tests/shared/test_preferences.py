"""A person's own choices (participant.preferences.changed) in the shared participant replica: kept
apart from the profile, laid over it on every read, standing after later profile updates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared import replica
from shared.contracts import events as ev
from shared.errors import NotYetKnown
from shared.people import Choices, Participant
from shared.replica import PARTICIPANT_COLUMNS, choices_values, participant_from_row, participant_values
from tests.support.fakes import FakeUnitOfWork, FixedClock, deliver
from tests.support.people import onboarded, person

NOW = datetime(2027, 1, 9, 18, tzinfo=UTC)
SUBSCRIPTIONS = {**replica.PARTICIPANT_SUBSCRIPTIONS, ev.ParticipantErased: replica.erasure_handler("test")}


def updated(**kwargs) -> ev.ParticipantUpdated:
    return ev.ParticipantUpdated.model_validate(person(**kwargs))


def preferences(pid: str = "ana", *, at: datetime = NOW, muted=(), channel=None, quiet=None, locale=None,
                style=None) -> ev.ParticipantPreferencesChanged:
    return ev.ParticipantPreferencesChanged(
        participant_id=pid, program_id="prog-1", muted=list(muted), channel=channel,
        quiet_hours={"start": quiet[0], "end": quiet[1]} if quiet else None, locale=locale, style=style,
        changed_at=at)


async def known(*events) -> FakeUnitOfWork:
    uow = FakeUnitOfWork(FixedClock(NOW))
    for event in events:
        await deliver(SUBSCRIPTIONS, event, uow, None)
    return uow


async def test_the_replica_handles_preferences_for_every_service_that_spreads_it():
    assert replica.PARTICIPANT_SUBSCRIPTIONS[ev.ParticipantPreferencesChanged] \
        is replica.on_participant_preferences_changed


async def test_the_choices_stand_over_the_profile():
    uow = await known(onboarded(pid="ana", locale="en-GB", style="direct", quiet=("22:00", "07:00")),
                      preferences(muted=["reminders", "nudges"], quiet=("21:00", "07:30"), locale="pt-BR",
                                  style="indirect"))
    ana = await uow.participants.get("ana")
    assert (ana.locale, ana.language, ana.communication.style) == ("pt-BR", "pt", "indirect")
    assert (ana.communication.quiet_start, ana.communication.quiet_end) == ("21:00", "07:30")
    assert ana.muted == frozenset({"reminders", "nudges"})
    assert ana.choices is not None and ana.choices.changed_at == NOW
    # Every lookup sees the same person.
    assert (await uow.participants.require("ana"))[0] == ana
    assert (await uow.participants.many(["ana"]))["ana"] == ana
    assert await uow.participants.in_program("prog-1") == [ana] == await uow.participants.active()


async def test_an_hris_update_after_the_preferences_keeps_the_choices():
    uow = await known(onboarded(pid="ana", locale="en-GB", style="direct"),
                      preferences(muted=["checkins"], quiet=("21:00", "07:30"), locale="pt-BR", style="indirect",
                                  channel="email"),
                      updated(pid="ana", locale="de-DE", style="direct", quiet=("23:00", "06:00"), seniority=7,
                              channel="slack", webhook_url="https://hooks.slack.com/services/T0/B0/x"))
    ana = await uow.participants.get("ana")
    assert ana.seniority == 7  # the profile did change
    assert ana.communication.webhook_url == "https://hooks.slack.com/services/T0/B0/x"
    assert (ana.locale, ana.communication.style, ana.communication.channel) == ("pt-BR", "indirect", "email")
    assert (ana.communication.quiet_start, ana.communication.quiet_end) == ("21:00", "07:30")
    assert ana.muted == frozenset({"checkins"})


async def test_a_choice_left_open_follows_the_profile_and_its_updates():
    uow = await known(onboarded(pid="ana", locale="en-GB", style="direct"), preferences(muted=["nudges"]),
                      updated(pid="ana", locale="nl-NL", style="indirect"))
    ana = await uow.participants.get("ana")
    assert (ana.locale, ana.communication.style, ana.communication.channel) == ("nl-NL", "indirect", "email")
    assert ana.muted == frozenset({"nudges"})


async def test_no_quiet_hours_is_a_choice_once_made_and_the_profiles_until_then():
    uow = await known(onboarded(pid="ana", quiet=("22:00", "07:00")))
    before = await uow.participants.get("ana")
    assert (before.communication.quiet_start, before.communication.quiet_end) == ("22:00", "07:00")
    assert before.muted == frozenset() and before.choices is None

    await deliver(SUBSCRIPTIONS, preferences(quiet=None), uow, None)
    after = await uow.participants.get("ana")
    assert (after.communication.quiet_start, after.communication.quiet_end) == (None, None)


async def test_an_older_preferences_event_arriving_late_is_ignored():
    newer = preferences(muted=["reminders"], locale="pt-BR", at=NOW)
    older = preferences(muted=[], locale="fr-FR", style="indirect", at=NOW - timedelta(hours=1))
    uow = await known(onboarded(pid="ana", locale="en-GB"), newer, older)
    ana = await uow.participants.get("ana")
    assert (ana.locale, ana.communication.style, ana.muted) == ("pt-BR", "direct", frozenset({"reminders"}))
    assert ana.choices.changed_at == NOW

    # A later set replaces the whole previous one: what it leaves out is no longer muted or chosen.
    await deliver(SUBSCRIPTIONS, preferences(at=NOW + timedelta(minutes=5), style="indirect"), uow, None)
    ana = await uow.participants.get("ana")
    assert (ana.locale, ana.communication.style, ana.muted) == ("en-GB", "indirect", frozenset())


@pytest.mark.parametrize(("profile", "webhook_url", "chosen", "channel"), [
    ("email", None, "chat", "email"),  # chat without an address to write to stays e-mail
    ("slack", "https://hooks.slack.com/services/T0/B0/x", "chat", "slack"),  # the profile's own chat kind
    ("teams", "https://example.webhook.office.com/x", "chat", "teams"),
    ("email", "https://chat.example.com/hooks/ana", "chat", "chat"),  # the address's host decides its format
    ("slack", "https://hooks.slack.com/services/T0/B0/x", "email", "email"),  # e-mail, whatever the profile says
    ("slack", "https://hooks.slack.com/services/T0/B0/x", None, "slack"),  # as the profile says
])
async def test_the_channel_chosen(profile, webhook_url, chosen, channel):
    uow = await known(onboarded(pid="ana", channel=profile, webhook_url=webhook_url), preferences(channel=chosen))
    ana = await uow.participants.get("ana")
    assert ana.communication.channel == channel
    assert ana.communication.webhook_url == webhook_url


async def test_chat_chosen_before_the_profile_gives_an_address_takes_effect_once_it_does():
    uow = await known(onboarded(pid="ana"), preferences(channel="chat"))
    assert (await uow.participants.get("ana")).communication.channel == "email"
    await deliver(SUBSCRIPTIONS, updated(pid="ana", channel="teams", webhook_url="https://example.webhook.office.com/x"),
                  uow, None)
    assert (await uow.participants.get("ana")).communication.channel == "teams"
    await deliver(SUBSCRIPTIONS, updated(pid="ana"), uow, None)  # the address gone again
    assert (await uow.participants.get("ana")).communication.channel == "email"


async def test_preferences_before_the_profile_wait_for_it():
    uow = await known()
    with pytest.raises(NotYetKnown):
        await deliver(SUBSCRIPTIONS, preferences(), uow, None)


async def test_an_erased_persons_preferences_are_not_kept_and_erasure_forgets_the_choices():
    uow = await known(onboarded(pid="ana"), preferences(muted=["reminders"], locale="pt-BR"))
    await deliver(SUBSCRIPTIONS, ev.ParticipantErased(participant_id="ana", program_id="prog-1", requested_at=NOW), uow, None)
    gone = await uow.participants.get("ana")
    assert gone.erased and gone.choices is None and gone.muted == frozenset() and gone.locale == "en"

    await deliver(SUBSCRIPTIONS, preferences(muted=["nudges"], locale="pt-BR", at=NOW + timedelta(days=1)), uow, None)
    gone = await uow.participants.get("ana")
    assert gone.choices is None and gone.muted == frozenset() and "ana" not in uow.participants.choices


async def test_an_offboarded_persons_preferences_are_kept_for_when_they_come_back():
    uow = await known(onboarded(pid="ana"), ev.ParticipantOffboarded(participant_id="ana", program_id="prog-1"),
                      preferences(muted=["checkins"], style="indirect"))
    left = await uow.participants.get("ana")
    assert not left.active and left.muted == frozenset({"checkins"})
    await deliver(SUBSCRIPTIONS, onboarded(pid="ana"), uow, None)
    back = await uow.participants.get("ana")
    assert back.active and back.communication.style == "indirect" and back.muted == frozenset({"checkins"})


# --- the row shape the real replica reads and writes ---------------------------------------------------

def _row(participant, choices: Choices | None = None) -> dict:
    row = dict(zip(PARTICIPANT_COLUMNS, participant_values(participant), strict=True))
    stored = choices_values(choices) if choices else (None, [], None)
    return {**row, **dict(zip(("preferences", "muted", "preferences_changed_at"), stored, strict=True))}


def _profile(**kwargs) -> Participant:
    return Participant.from_profile(onboarded(**kwargs))


def test_a_row_is_read_with_the_choices_laid_over_its_profile():
    profile = _profile(pid="ana", locale="en-GB", quiet=("22:00", "07:00"))
    choices = Choices.from_event(preferences(muted=["nudges", "reminders"], quiet=("20:00", "08:00"), style="indirect"))
    read = participant_from_row(_row(profile, choices))
    assert read == profile.with_choices(choices)
    assert read.choices == choices and read.muted == frozenset({"nudges", "reminders"})
    assert (read.communication.quiet_start, read.communication.style, read.locale) == ("20:00", "indirect", "en-GB")

    no_quiet = Choices.from_event(preferences(quiet=None))
    assert participant_from_row(_row(profile, no_quiet)).communication.quiet_start is None
    # Without choices, or read without the choice columns (a row of the profile columns only): the profile.
    assert participant_from_row(_row(profile)) == profile
    assert participant_from_row(dict(zip(PARTICIPANT_COLUMNS, participant_values(profile), strict=True))) == profile


def test_a_participant_carrying_choices_is_not_stored_as_a_profile():
    profile = _profile(pid="ana")
    assert len(participant_values(profile)) == len(PARTICIPANT_COLUMNS)  # bulk loads: the profile only
    with pytest.raises(ValueError, match="carries their own choices"):
        participant_values(profile.with_choices(Choices.from_event(preferences(locale="pt-BR"))))
