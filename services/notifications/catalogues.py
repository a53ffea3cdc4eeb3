"""Maintain the message catalogues with Babel: `python -m services.notifications.catalogues COMMAND`.

    extract        message ids from the code (domain/messages, i18n/values) -> locale/tandem.pot
    update         merge tandem.pot into every locale/<locale>/LC_MESSAGES/tandem.po
    init LOCALE    start a catalogue for a new language (e.g. `init it`, `init pt_PT`)
    check          compile every catalogue with Babel, and fail on a missing, empty, fuzzy or obsolete entry, or a placeholder a translation
                   drops or invents (`make catalogues` runs extract, update and check)

Message ids are English. Their context (`msgctxt`) is the tone: `direct`, `indirect`, `any` (both
tones) or `certificate`.
"""

from __future__ import annotations

import io
import string
import sys
from datetime import datetime
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from services.notifications.i18n.catalogues import (
    DOMAIN,
    LOCALE_DIR,
    SOURCE,
    available,
    po_path,
)

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parents[1]
POT = LOCALE_DIR / f"{DOMAIN}.pot"
SOURCES = sorted([*(PACKAGE / "domain" / "messages").glob("*.py"), PACKAGE / "i18n" / "values.py"])
# The markers of domain/messages/structure.py, read like pgettext and npgettext.
KEYWORDS = {"msg": ((1, "c"), 2), "nmsg": ((1, "c"), 2, 3)}
HEADER = {"project": "Tandem", "version": "1", "copyright_holder": "Tandem",
          "msgid_bugs_address": "tandem@example.com", "charset": "utf-8"}
_FORMATTER = string.Formatter()
FIXED_DATE = datetime(2027, 1, 1)  # keeps regenerated files stable in version control


def extract() -> Catalog:
    catalog = Catalog(domain=DOMAIN, creation_date=FIXED_DATE, revision_date=FIXED_DATE, **HEADER)
    for path in SOURCES:
        for lineno, message, comments, context in extract_from_file(
                "python", str(path), keywords=KEYWORDS, comment_tags=("i18n:",)):
            catalog.add(message, None, [(str(path.relative_to(ROOT)), lineno)], auto_comments=comments,
                        context=context)
    return catalog


def _write(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, sort_output=False, omit_header=False, include_previous=False)
    path.write_bytes(buffer.getvalue())


def write_template() -> Catalog:
    template = extract()
    _write(template, POT)
    return template


def read(name: str) -> Catalog:
    with po_path(name).open("rb") as source:
        return read_po(source, locale=name, domain=DOMAIN)


def _template() -> Catalog:
    with POT.open("rb") as source:
        return read_po(source, domain=DOMAIN)


def update() -> None:
    template = _template()
    for name in available():
        catalog = read(name)
        catalog.update(template, no_fuzzy_matching=True, update_creation_date=False)
        catalog.obsolete.clear()  # a message the code no longer has is dropped, not kept commented
        if name == SOURCE:
            _as_written(catalog)
        catalog.revision_date = FIXED_DATE
        _write(catalog, po_path(name))


def init(name: str) -> None:
    Locale.parse(name)  # refuses a name Babel does not know
    if po_path(name).exists():
        raise SystemExit(f"{po_path(name)} exists already")
    catalog = Catalog(locale=name, domain=DOMAIN, creation_date=FIXED_DATE, revision_date=FIXED_DATE, **HEADER)
    catalog.update(_template(), no_fuzzy_matching=True, update_creation_date=False)
    if name == SOURCE:
        _as_written(catalog)
    _write(catalog, po_path(name))


def _as_written(catalog: Catalog) -> None:
    """The source language's catalogue says what the code says, until a writer changes a wording."""
    for message in catalog:
        if message.id and not (message.string if isinstance(message.string, str) else all(message.string)):
            message.string = message.id


def compiles(name: str) -> None:
    """Compile one catalogue as the service does (Babel's `write_mo`), to a throwaway buffer."""
    write_mo(io.BytesIO(), read(name), use_fuzzy=False)


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in _FORMATTER.parse(text) if name}


def problems(name: str, template: Catalog | None = None) -> list[str]:
    """What is wrong with one catalogue against the template: every entry must be there, translated,
    not fuzzy, and name the same placeholders (a singular form may leave out the number)."""
    template = template or _template()
    catalog = read(name)
    found = []
    for wanted in template:
        if not wanted.id:
            continue
        message: Message | None = catalog.get(wanted.id, context=wanted.context)
        where = f"{name}: [{wanted.context}] {wanted.id if isinstance(wanted.id, str) else wanted.id[0]!r}"
        if message is None:
            found.append(f"{where}: missing")
            continue
        if message.fuzzy:
            found.append(f"{where}: fuzzy")
        forms = list(message.string) if isinstance(message.string, (list, tuple)) else [message.string]
        if not forms or not all(forms):
            found.append(f"{where}: not translated")
            continue
        ids = list(wanted.id) if isinstance(wanted.id, (list, tuple)) else [wanted.id]
        allowed = set().union(*(_fields(i) for i in ids))
        for form in forms:
            if not _fields(form) <= allowed:
                found.append(f"{where}: unknown placeholder(s) {sorted(_fields(form) - allowed)}")
        # The last form is the general one ("other"): it names every placeholder. The others may
        # imply the number ("one meeting").
        if not _fields(ids[-1]) <= _fields(forms[-1]):
            found.append(f"{where}: drops placeholder(s) {sorted(_fields(ids[-1]) - _fields(forms[-1]))}")
    extra = {(m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in catalog if m.id} - \
        {(m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in template if m.id}
    found += [f"{name}: [{c}] {i!r}: not in the template (obsolete)" for c, i in sorted(extra, key=str)]
    return found


def check() -> int:
    template = write_template()
    found = [p for name in available() for p in problems(name, template)]
    for name in available():
        compiles(name)
    for problem in found:
        print(problem, file=sys.stderr)
    print(f"{len(available())} catalogues, {sum(1 for m in template if m.id)} messages, {len(found)} problems")
    return 1 if found else 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "check"
    if command == "extract":
        template = write_template()
        print(f"{POT.relative_to(ROOT)}: {sum(1 for m in template if m.id)} messages")
    elif command == "update":
        update()
    elif command == "init" and len(args) == 2:
        init(args[1])
    elif command == "check":
        return check()
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
