"""What notifications drops when a person is forgotten (besides the shared scrub, shared/erasure.py):
nothing more is sent to them, the messages kept for them lose their content (attachments
included), the invites their partners got are rebuilt without them, and the agreements they
took part in are forgotten. Mail bytes written ahead (`deliveries.mime`) that may name them are
dropped before the scrub, and written again from the scrubbed text when the mail is sent: the
scrub cannot read them (quoted-printable, base64).

Invites are rebuilt, never text-replaced: iCalendar folds lines at 75 octets and escapes commas,
so a replacement would miss a long name or one with a comma (adapters/stored_invites.py,
`domain.forgotten`).
"""

from __future__ import annotations

from shared import replica
from shared.erasure import variants
from shared.people import Participant

FORGOTTEN = "the recipient was forgotten on request; not sent"


async def drop_their_messages(uow, person: Participant) -> None:
    await uow.deliveries.drop_mail_naming(person.participant_id, variants(person.personal_strings()))
    await uow.deliveries.forget_recipient(person.participant_id, FORGOTTEN)
    await uow.subjects.forget_agreements_of(person.participant_id)
    await uow.invites.rebuild_naming(person)


async def on_agreement_of_the_forgotten(uow, relationship_id: str, participant_id: str) -> bool:
    """Whether an agreement (its place, boundaries and goals are free text) is by or about someone
    forgotten on request: then it is not kept."""
    pair = await uow.pairs.get(relationship_id)
    people = {participant_id, *(pair.members if pair is not None else ())}
    return bool(await uow.participants.erased_among(people))


on_participant_erased = replica.erasure_handler("notifications", also=drop_their_messages)
