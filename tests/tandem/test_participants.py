"""The demo's people read pages as a browser would: the page's name, its prefilled fields, the
choices offered and the bounds, from the real templates."""

from __future__ import annotations

from email.message import EmailMessage

from services.notifications.entrypoints.web.pages import TEMPLATES
from tandem.participants import FOOTER, Form, parse_mail
from tests.services.notifications.entrypoints.test_pages_render import ANA, PAGES, words


def page(name: str) -> str:
    return TEMPLATES.get_template(f"{name}.html").render({"w": words("en", "direct"), "person": ANA, "csrf": "tok",
                                                          "choice": None, "page_name": name, **PAGES[name]})


def test_a_proposal_page_reads_as_its_form():
    form = Form(page("proposal"))
    assert form.page == "proposal" and form.values["csrf"] == "tok" and form.values["answer"] == "accept"
    assert form.options["answer"] == ["accept", "decline"] and "no_time" in form.options["reason_code"]


def test_an_agreement_page_gives_its_bounds_and_prefilled_values():
    form = Form(page("agreement"))
    assert form.bounds["cadence_days"] == (7, 28) and form.values["cadence_days"] == "14"
    assert form.values["goals"] == "public speaking\nnegotiation" and form.values["place"] == "video"


def test_a_feedback_page_names_its_goals():
    form = Form(page("feedback"))
    assert form.goals() == [("goal_0", "public speaking"), ("goal_1", "negotiation")]
    assert form.options["rating"] == ["1", "2", "3", "4", "5"] and "not_good" in form.options["fit"]


def test_a_mail_is_read_as_its_reader_and_links():
    mail = EmailMessage()
    mail["To"] = "Ana <ana@example.com>"
    mail["X-Tandem-Delivery"] = "d-1"
    mail["List-Unsubscribe"] = "<http://127.0.0.1:8083/a/stop>"
    mail.set_content("Hi Ana,\n\nAccept: http://127.0.0.1:8083/a/tok?choice=accept\n"
                     f"Decline: http://127.0.0.1:8083/a/tok?choice=decline{FOOTER}"
                     "Choose which messages you receive: http://127.0.0.1:8083/a/prefs\n")
    read = parse_mail(mail, "m.eml", {"ana@example.com": "p-ana"})
    assert (read.recipient_id, read.delivery_id, read.unsubscribe) == ("p-ana", "d-1", "http://127.0.0.1:8083/a/stop")
    assert read.link("accept").endswith("choice=accept") and read.link("decline").endswith("choice=decline")
    assert all("prefs" not in url for url in read.links)  # the footer's links are not actions
    assert parse_mail(mail, "m.eml", {}) is None  # not one of the program's people
