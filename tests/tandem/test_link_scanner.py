from email.message import EmailMessage

from tandem.link_scanner import links_in


def test_every_page_link_a_gateway_would_open_is_found():
    mail = EmailMessage()
    mail["List-Unsubscribe"] = "<http://127.0.0.1:8083/a/stop.sig>"
    mail.set_content("Accept: http://127.0.0.1:8083/a/tok.sig?choice=accept\nOther: https://example.com/x\n")
    mail.add_alternative('<p><a href="http://127.0.0.1:8083/a/tok.sig?choice=decline">Decline</a></p>', subtype="html")
    mail.add_attachment("BEGIN:VCALENDAR\r\nURL;VALUE=URI:http://127.0.0.1:8083/a/meet\r\n ing.sig\r\nEND:VCALENDAR\r\n",
                        subtype="calendar", filename="invite.ics")
    assert links_in(mail) == {"http://127.0.0.1:8083/a/stop.sig", "http://127.0.0.1:8083/a/tok.sig?choice=accept",
                              "http://127.0.0.1:8083/a/tok.sig?choice=decline", "http://127.0.0.1:8083/a/meeting.sig"}
