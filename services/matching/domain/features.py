"""Profiles as numpy columns, so rules and scores run over thousands of mentors per call.

Terms (languages, skills/goals) become bitsets: bit i of word i // 64 is set when the person has
vocabulary term i. Vocabularies only grow, and a growing vocabulary widens every table that uses
it, so a mentee row and a mentor table always have the same number of words.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from shared.people import Participant, Window

AvailabilityKey = tuple[str, tuple[Window, ...]]


def first_language(profile: Participant) -> str:
    """The language a person is most at ease in: their locale's language if they list it."""
    return _first(profile.locale, profile.languages)


def availability_key(profile: Participant) -> AvailabilityKey:
    return (profile.timezone, profile.availability)


class Vocab:
    """Strings to dense ids, in order of first sight."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, term: str) -> int:
        found = self.ids.get(term)
        if found is None:
            found = self.ids[term] = len(self.ids)
        return found

    def get(self, term: str) -> int:
        return self.ids.get(term, -1)

    @property
    def words(self) -> int:
        return max(1, -(-len(self.ids) // 64))

    def bits(self, terms: Iterable[str], words: int) -> np.ndarray:
        """A bitset of the known terms (unknown ones cannot match anybody, so they are dropped)."""
        value = 0
        for term in terms:
            idx = self.ids.get(term)
            if idx is not None:
                value |= 1 << idx
        return np.array([(value >> (64 * w)) & 0xFFFF_FFFF_FFFF_FFFF for w in range(words)], dtype=np.uint64)


class AvailabilityClasses:
    """An id per distinct (time zone, windows): people who share them share all overlap work."""

    def __init__(self) -> None:
        self.ids: dict[tuple, int] = {}
        self.keys: list[AvailabilityKey] = []

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, key: AvailabilityKey) -> int:
        # Looked up by plain tuples: hashing and comparing pydantic models costs ~10x more.
        timezone, windows = key
        plain = (timezone, tuple((w.days, w.start, w.end) for w in windows))
        found = self.ids.get(plain)
        if found is None:
            found = self.ids[plain] = len(self.keys)
            self.keys.append(key)
        return found


@dataclass
class Vocabularies:
    languages: Vocab = field(default_factory=Vocab)
    terms: Vocab = field(default_factory=Vocab)  # skills and goals share one vocabulary
    regions: Vocab = field(default_factory=Vocab)
    countries: Vocab = field(default_factory=Vocab)
    sectors: Vocab = field(default_factory=Vocab)

    def learn(self, profile: Participant) -> None:
        self.learn_all([profile])

    def learn_all(self, people: Iterable[Participant]) -> None:
        # Distinct values first: far fewer than people, and the dict lookups are the cost.
        people = list(people)
        for langs in {p.languages for p in people}:
            for lang in langs:
                self.languages.add(lang)
        for terms in {p.skills for p in people} | {p.goals for p in people}:
            for term in terms:
                self.terms.add(term)
        for vocab, attr in ((self.regions, "region"), (self.countries, "country"), (self.sectors, "sector")):
            for value in dict.fromkeys(getattr(p, attr) for p in people):
                vocab.add(value)


_COLUMNS: dict[str, type] = {
    "seniority": np.int16,
    "first": np.int32,
    "region": np.int32,
    "country": np.int32,
    "sector": np.int32,
    "n_terms": np.int16,
    "diverse": np.bool_,
    "avail": np.int32,
    "free": np.int32,
    "active": np.bool_,
}


class PeopleTable:
    """One row per person: the columns rules and scores need.

    `terms` holds skills for mentors and goals for mentees; `free` is a mentor's free capacity.
    Rows are slots: the on-demand index reuses them and marks removed people inactive.
    """

    def __init__(self, vocab: Vocabularies, rows: int = 0) -> None:
        self.vocab = vocab
        self.version = 0  # counts changes by `put`, `grow` and `widen` (not of `free` and `active`)
        self.ids: list[str | None] = [None] * rows
        for name, dtype in _COLUMNS.items():
            setattr(self, name, np.zeros(rows, dtype=dtype))
        self.lang = np.zeros((rows, vocab.languages.words), dtype=np.uint64)
        self.terms = np.zeros((rows, vocab.terms.words), dtype=np.uint64)

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, people: Sequence[Participant], vocab: Vocabularies, classes: AvailabilityClasses, *,
              terms: str, free: Sequence[int] | None = None) -> PeopleTable:
        table = cls(vocab, 0)
        cols = encode_rows(people, vocab, classes, terms=terms)
        table.ids = [p.participant_id for p in people]
        for name, dtype in _COLUMNS.items():
            if name in cols:
                setattr(table, name, np.asarray(cols[name], dtype=dtype))
        table.free = np.asarray(free if free is not None else [0] * len(people), dtype=np.int32)
        table.active = np.ones(len(people), dtype=np.bool_)
        table.lang = _words(cols["lang"], vocab.languages.words)
        table.terms = _words(cols["terms"], vocab.terms.words)
        return table

    def row(self, i: int) -> PersonRow:
        return PersonRow(**{name: getattr(self, name)[i] for name in _COLUMNS}, lang=self.lang[i], terms=self.terms[i])

    # --- growable slots for the on-demand index ---

    def grow(self, rows: int) -> None:
        extra = rows - len(self.ids)
        if extra <= 0:
            return
        self.version += 1
        self.ids.extend([None] * extra)
        for name in _COLUMNS:
            col = getattr(self, name)
            setattr(self, name, np.concatenate([col, np.zeros(extra, dtype=col.dtype)]))
        self.lang = np.vstack([self.lang, np.zeros((extra, self.lang.shape[1]), dtype=np.uint64)])
        self.terms = np.vstack([self.terms, np.zeros((extra, self.terms.shape[1]), dtype=np.uint64)])

    def widen(self) -> None:
        """Add bitset words after the vocabularies grew past a multiple of 64."""
        for name, words in (("lang", self.vocab.languages.words), ("terms", self.vocab.terms.words)):
            col = getattr(self, name)
            if col.shape[1] < words:
                self.version += 1
                setattr(self, name, np.hstack([col, np.zeros((col.shape[0], words - col.shape[1]), dtype=np.uint64)]))

    def put(self, i: int, person: PersonRow, pid: str) -> None:
        self.version += 1
        self.ids[i] = pid
        for name in _COLUMNS:
            getattr(self, name)[i] = getattr(person, name)
        self.lang[i] = person.lang
        self.terms[i] = person.terms


@dataclass
class PersonRow:
    """One person's columns as scalars (and 1-D bitsets): broadcasts against a PeopleTable."""

    seniority: int
    first: int
    region: int
    country: int
    sector: int
    n_terms: int
    diverse: bool
    avail: int
    free: int
    active: bool
    lang: np.ndarray
    terms: np.ndarray


def encode_rows(people: Sequence[Participant], vocab: Vocabularies, classes: AvailabilityClasses, *,
                terms: str) -> dict[str, list]:
    """Column lists for `people`; `terms` is "skills" (mentors) or "goals" (mentees).

    Values are converted once per distinct value (many people share languages, places, windows),
    and bitsets are built as Python ints: far cheaper than numpy per person.
    """
    lang_ids, term_ids = vocab.languages.ids, vocab.terms.ids

    def encoded(values: list, convert) -> list:
        cache = {v: convert(v) for v in dict.fromkeys(values)}
        return [cache[v] for v in values]

    own = [p.skills if terms == "skills" else p.goals for p in people]
    return {
        "seniority": [p.seniority for p in people],
        "first": encoded([(p.locale, p.languages) for p in people],
                         lambda v: vocab.languages.get(_first(*v))),
        "region": encoded([p.region for p in people], vocab.regions.get),
        "country": encoded([p.country for p in people], vocab.countries.get),
        "sector": encoded([p.sector for p in people], vocab.sectors.get),
        "n_terms": [len(t) for t in own],
        "diverse": [p.diverse_perspective for p in people],
        "avail": [classes.add(availability_key(p)) for p in people],
        "lang": encoded([p.languages for p in people], lambda v: sum(1 << lang_ids[t] for t in v if t in lang_ids)),
        "terms": encoded(own, lambda v: sum(1 << term_ids[t] for t in v if t in term_ids)),
    }


def _first(locale: str, languages: tuple[str, ...]) -> str:
    lang = locale.replace("_", "-").split("-")[0].lower()
    return lang if lang in languages else languages[0]


def person_row(p: Participant, vocab: Vocabularies, classes: AvailabilityClasses, *, terms: str,
               free: int = 0) -> PersonRow:
    """One person's columns: what `encode_rows` gives for them, without its per-column set-up (the
    on-demand index encodes one person per upsert and per request)."""
    own = p.skills if terms == "skills" else p.goals
    lang_ids, term_ids = vocab.languages.ids, vocab.terms.ids
    lang = sum(1 << lang_ids[t] for t in p.languages if t in lang_ids)
    bits = sum(1 << term_ids[t] for t in own if t in term_ids)
    return PersonRow(
        seniority=p.seniority, first=vocab.languages.get(_first(p.locale, p.languages)),
        region=vocab.regions.get(p.region), country=vocab.countries.get(p.country),
        sector=vocab.sectors.get(p.sector), n_terms=len(own), diverse=p.diverse_perspective,
        avail=classes.add(availability_key(p)), free=free, active=True,
        lang=_word_row(lang, vocab.languages.words), terms=_word_row(bits, vocab.terms.words))


def _word_row(value: int, words: int) -> np.ndarray:
    mask = (1 << 64) - 1
    return np.array([(value >> (64 * w)) & mask for w in range(words)], dtype=np.uint64)


def _words(values: list[int], words: int) -> np.ndarray:
    out = np.zeros((len(values), words), dtype=np.uint64)
    mask = (1 << 64) - 1
    for w in range(words):
        out[:, w] = np.fromiter(((v >> (64 * w)) & mask for v in values), dtype=np.uint64, count=len(values))
    return out
