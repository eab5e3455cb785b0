"""Text keys of client cards: how names, phones, e-mails and tax ids are written down and compared, and
which cards are likely one client."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers
from rapidfuzz import fuzz

from mercator.common.errors import InvalidValue


def search_key(text: str) -> str:
    # Users type 'е' for 'ё' and mix cases freely; both must find the same card.
    folded = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    return " ".join(folded.split())


def phone_digits(text: str) -> str:
    # NFKC first so full-width digits count, but only ASCII 0-9 survive.
    return "".join(c for c in unicodedata.normalize("NFKC", text) if c in "0123456789")


def normalise_phone(raw: str, default_region: str = "RU", field: str = "phone") -> str:
    try:
        number = phonenumbers.parse(raw, default_region)
    except (phonenumbers.NumberParseException, TypeError):
        raise InvalidValue("invalid_phone", f"not a phone number: {raw!r}", field) from None
    # Validity (not just plausible length) keeps '+7 000 000-00-00' placeholders out.
    if not phonenumbers.is_valid_number(number):
        raise InvalidValue("invalid_phone", f"not a valid phone number: {raw!r}", field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(raw: str, field: str = "email") -> str:
    # Mailboxes are case-insensitive in practice; lower-casing avoids twin contacts.
    email = (raw or "").strip().lower()
    local, _, domain = email.partition("@")
    labels = domain.split(".")
    if email.count("@") != 1 or not local or any(c.isspace() for c in email) or len(labels) < 2 or not all(labels):
        raise InvalidValue("invalid_email", f"not an e-mail address: {raw!r}", field)
    return email


_INN10_WEIGHTS = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12_WEIGHTS_1 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12_WEIGHTS_2 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_FOREIGN_TAX_ID = re.compile(r"[A-Z0-9-]{4,20}")


def _inn_check_digit(digits: str, weights: tuple[int, ...]) -> str:
    return str(sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11 % 10)


def _is_valid_inn(inn: str) -> bool:
    if len(inn) == 10:
        return inn[9] == _inn_check_digit(inn, _INN10_WEIGHTS)
    if len(inn) == 12:
        return inn[10] == _inn_check_digit(inn, _INN12_WEIGHTS_1) and inn[11] == _inn_check_digit(inn, _INN12_WEIGHTS_2)
    return False


def normalise_tax_id(raw: str | None, field: str = "tax_id") -> str | None:
    if raw is None or not raw.strip():
        return None
    # INNs are often written in groups ('7707 083 893'), so drop all inner spaces.
    tax_id = "".join(raw.split()).upper()
    if tax_id.isascii() and tax_id.isdigit():
        # An all-digit id is read as an INN; a typo must not slip in as "foreign".
        if not _is_valid_inn(tax_id):
            raise InvalidValue("invalid_tax_id", f"not a valid INN: {raw!r}", field)
        return tax_id
    if not _FOREIGN_TAX_ID.fullmatch(tax_id):
        raise InvalidValue("invalid_tax_id", f"not a valid tax id: {raw!r}", field)
    return tax_id


# --- duplicate detection ---------------------------------------------------

_LEGAL_FORM_PHRASES = sorted(
    (
        "общество с ограниченной ответственностью",
        "публичное акционерное общество",
        "закрытое акционерное общество",
        "открытое акционерное общество",
        "акционерное общество",
        "индивидуальный предприниматель",
        "limited liability company",
    ),
    key=len,
    reverse=True,  # longest first, so 'акционерное общество' cannot eat a longer form's tail
)
_LEGAL_FORM_WORDS = frozenset(
    ["ооо", "оао", "зао", "пао", "ао", "ип", "нпо", "гк", "llc", "ltd", "inc", "gmbh", "jsc", "cjsc", "ooo"]
)
# Latin letters that look like Cyrillic ones: 'Ромашкa' typed with a Latin 'a'
# is a classic source of duplicates nobody can see.
_LATIN_TO_CYRILLIC = str.maketrans("aeopcxykmthb", "аеорсхукмтнв")
_CYRILLIC = re.compile(r"[а-я]")


def _unmix_script(word: str) -> str:
    return word.translate(_LATIN_TO_CYRILLIC) if _CYRILLIC.search(word) else word


def matching_name(raw: str) -> str:
    key = search_key(raw)
    # Quotes, punctuation and symbols become spaces so 'Ромашка,ООО' splits into words.
    key = "".join(" " if unicodedata.category(c)[0] in "PS" else c for c in key)
    padded = " " + " ".join(key.split()) + " "
    for phrase in _LEGAL_FORM_PHRASES:
        padded = padded.replace(f" {phrase} ", " ")
    words = (_unmix_script(w) for w in padded.split())
    return " ".join(w for w in words if w not in _LEGAL_FORM_WORDS)


def name_similarity(a: str, b: str) -> float:
    left, right = matching_name(a), matching_name(b)
    if not left or not right:  # a bare legal form says nothing about identity
        return 0.0
    # token_sort: 'Иванов Пётр' and 'Пётр Иванов' are the same card.
    return fuzz.token_sort_ratio(left, right) / 100


# One typo in a seven-letter name (0.857) still warns; false alarms are cheap,
# a duplicate card splits the client history.
NAME_SIMILARITY_THRESHOLD: float = 0.85
_CONTACT_MATCH_SCORE = 0.95


@dataclass(frozen=True)
class CardFingerprint:
    """What is compared to find duplicates; phones/emails already normalised."""

    company_id: uuid.UUID | None
    name: str
    tax_id: str | None = None
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()


@dataclass(frozen=True)
class LikelyDuplicate:
    company_id: uuid.UUID
    name: str
    reasons: tuple[str, ...]
    score: float


def find_likely_duplicates(new: CardFingerprint, existing: Iterable[CardFingerprint]) -> list[LikelyDuplicate]:
    found = []
    for other in existing:
        # A card without an id cannot be pointed at, and a card never duplicates itself.
        if other.company_id is None or other.company_id == new.company_id:
            continue
        # Whole-address equality only: on gmail.com or mail.ru a shared domain means nothing.
        signals: dict[str, float] = {}
        if new.tax_id and new.tax_id == other.tax_id:
            signals["same_tax_id"] = 1.0
        if set(new.phones) & set(other.phones):
            signals["same_phone"] = _CONTACT_MATCH_SCORE
        if set(new.emails) & set(other.emails):
            signals["same_email"] = _CONTACT_MATCH_SCORE
        similarity = name_similarity(new.name, other.name)
        if similarity >= NAME_SIMILARITY_THRESHOLD:
            signals["similar_name"] = similarity
        if signals:
            found.append(LikelyDuplicate(other.company_id, other.name, tuple(signals), max(signals.values())))
    return sorted(found, key=lambda d: (-d.score, search_key(d.name), str(d.company_id)))


def candidate_name_prefix(name: str) -> str:
    """Prefix for a repository's `matching_name LIKE '%<prefix>%'` pre-selection.

    Fuzzy scoring cannot run over the whole table, so the repository narrows by
    this prefix (plus exact tax id / phone / e-mail matches) and lets
    find_likely_duplicates score the rest. The longest word is the most
    distinctive; three letters survive endings and typos later in the word.
    The column searched must hold matching_name() and the LIKE must be a
    'contains' match, since the longest word need not come first.
    """
    words = matching_name(name).split() or search_key(name).split()
    return max(words, key=len)[:3] if words else ""
