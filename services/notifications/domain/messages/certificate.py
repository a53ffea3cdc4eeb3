"""The words on a certificate of completion (one formal register, in the reader's language)."""

from __future__ import annotations

from .structure import Switch, msg, nmsg

TITLE = msg("certificate", "Certificate of completion")
CERTIFIES = msg("certificate", "This certifies that")
COMPLETED = Switch("role", {
    "mentee": msg("certificate", "has completed a mentoring relationship as a mentee in {program_name}"),
    "mentor": msg("certificate", "has completed a mentoring relationship as a mentor in {program_name}"),
})
MEETINGS = nmsg("certificate", "with one meeting held", "with {count} meetings held")
GOALS_ACHIEVED = msg("certificate", "Goals achieved: {goals}")
ISSUED = msg("certificate", "Issued on {date}")
DOCUMENT_NAME = msg("certificate", "certificate")  # the attachment's file name, before ".pdf"
