import uuid

from hypothesis import given
from hypothesis import strategies as st

from services.scheduling.domain.ids import uuid5_text
from services.scheduling.domain.invites import invite_uid
from services.scheduling.domain.model import NAMESPACE, meeting_id, reminder_id


@given(st.uuids(), st.text())
def test_same_text_as_the_standard_library(namespace, name):
    assert uuid5_text(namespace, name) == str(uuid.uuid5(namespace, name))


def test_meeting_reminder_and_invite_ids_are_unchanged():
    # Ids are stored and sent: a redelivered event must land on the same rows as before.
    assert meeting_id("r-1", 2) == str(uuid.uuid5(NAMESPACE, "r-1/2"))
    assert reminder_id("m-1", 60, 3) == str(uuid.uuid5(NAMESPACE, "m-1/reminder/60/3"))
    assert invite_uid("m-1") == f"{uuid.uuid5(uuid.UUID('0b7f3f55-3f5e-4c55-9a53-6d1b7e3c2a10'), 'm-1')}@tandem"
