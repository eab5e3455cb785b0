"""Bank statements: reading ISO 20022 camt.053 and 1CClientBankExchange files, and the rule that matches an
incoming payment to an open invoice. Pure Python: no database, no framework.

camt.053 is read with defusedxml (no entity expansion, no external entities, no DTD: a statement is
untrusted input). The one PyPI parser that reads camt.053 (`bankstatementparser`) is a 0.0.x release with
a large surface for what is here a few dozen lines of ElementTree; and 1CClientBankExchange has no
well-kept parser on PyPI at all.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import ParseError, fromstring  # type: ignore[import-untyped]

from mercator.common.errors import InvalidValue

# As billing numbers them (domain.format_invoice_number): the year and a six-digit sequence.
INVOICE_NUMBER = re.compile(r"(?<!\d)(\d{4})\s*[-/]\s*(\d{1,6})(?!\d)")


@dataclass(frozen=True)
class StatementLine:
    """One incoming payment on our account, as the bank reported it."""

    entry_key: str  # the same payment in any later import of the same statement has the same key
    account: str  # ours, the one credited
    booked_on: date
    amount: Decimal
    currency: str
    payer_name: str | None
    payer_tax_id: str | None
    payer_account: str | None
    purpose: str
    document_number: str | None


class BadStatement(InvalidValue):
    def __init__(self, message: str):
        super().__init__("bad_statement", message, "file")


def read_statement(data: bytes) -> tuple[str, list[StatementLine]]:
    """The format and the incoming payments of a statement file; outgoing ones are not billing's business."""
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:64]
    if head.startswith(b"<"):
        return "camt.053", read_camt053(data)
    if head.startswith(b"1CClientBankExchange"):
        return "1c", read_1c(data)
    raise BadStatement("the file is neither a camt.053 XML statement nor a 1CClientBankExchange file")


# --- camt.053 ---------------------------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(node: Element | None, path: str) -> Element | None:
    """The first element along `path` (local names, '/'-separated), whatever the camt version's namespace."""
    for name in path.split("/"):
        if node is None:
            return None
        node = next((c for c in node if _local(c.tag) == name), None)
    return node


def _text(node: Element | None, path: str) -> str | None:
    found = _find(node, path)
    return found.text.strip() if found is not None and found.text and found.text.strip() else None


def _all(node: Element, name: str) -> list[Element]:
    return [c for c in node if _local(c.tag) == name]


def _money(text: str | None, what: str) -> Decimal:
    try:
        value = Decimal((text or "").replace(",", ".").replace(" ", ""))
    except InvalidOperation:
        raise BadStatement(f"{what}: {text!r} is not an amount") from None
    if not value.is_finite() or value <= 0:
        raise BadStatement(f"{what}: {text!r} is not an amount")
    return value


def _iso_day(text: str | None, what: str) -> date:
    try:
        return date.fromisoformat((text or "")[:10])
    except ValueError:
        raise BadStatement(f"{what}: {text!r} is not a date") from None


def _party_tax_id(party: Element | None) -> str | None:
    """The payer's tax id (ИНН): an organisation id whose scheme says so, else the first one there is."""
    org = _find(party, "Id/OrgId")
    if org is None:
        return None
    ids = _all(org, "Othr")
    for other in ids:
        scheme = (_text(other, "SchmeNm/Cd") or _text(other, "SchmeNm/Prtry") or "").upper()
        if scheme in ("TXID", "INN", "ИНН"):
            return _text(other, "Id")
    return _text(ids[0], "Id") if ids else None


def read_camt053(data: bytes) -> list[StatementLine]:
    try:
        root = fromstring(data, forbid_dtd=True)
    except (ParseError, DefusedXmlException) as exc:
        raise BadStatement(f"the XML cannot be read: {exc}") from None
    report = _find(root, "BkToCstmrStmt")
    if report is None:
        raise BadStatement("not a camt.053 statement (no BkToCstmrStmt)")
    lines = []
    for s, statement in enumerate(_all(report, "Stmt")):
        account = _text(statement, "Acct/Id/IBAN") or _text(statement, "Acct/Id/Othr/Id")
        if not account:
            raise BadStatement(f"statement {s + 1} names no account")
        for n, entry in enumerate(_all(statement, "Ntry")):
            if _text(entry, "CdtDbtInd") != "CRDT" or _text(entry, "RvslInd") == "true":
                continue
            lines.extend(_camt_entry(account, entry, f"statement {s + 1}, entry {n + 1}"))
    return lines


def _camt_entry(account: str, entry: Element, where: str) -> list[StatementLine]:
    """An incoming entry's payments: one, or one per transaction of a batch."""
    booked = _iso_day(
        _text(entry, "BookgDt/Dt") or _text(entry, "BookgDt/DtTm") or _text(entry, "ValDt/Dt"),
        f"{where}: booking date",
    )
    details = _find(entry, "NtryDtls")
    transactions = _all(details, "TxDtls") if details is not None else []
    lines = []
    for t, tx in enumerate(transactions or [None]):
        amount_el = _find(tx, "Amt") if tx is not None and len(transactions) > 1 else None
        amount_el = amount_el if amount_el is not None else _find(entry, "Amt")
        if amount_el is None:
            raise BadStatement(f"{where}: no amount")
        amount = _money(amount_el.text, f"{where}: amount")
        currency = (amount_el.get("Ccy") or "").upper()
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise BadStatement(f"{where}: no currency")
        debtor = _find(tx, "RltdPties/Dbtr")
        debtor = _find(debtor, "Pty") if _find(debtor, "Pty") is not None else debtor
        remittance = _find(tx, "RmtInf")
        purpose = " ".join(
            u.text.strip() for u in (_all(remittance, "Ustrd") if remittance is not None else []) if u.text
        )
        reference = (
            _text(tx, "Refs/AcctSvcrRef")
            or _text(entry, "AcctSvcrRef")
            or _text(tx, "Refs/EndToEndId")
            or _text(entry, "NtryRef")
        )
        if reference and len(transactions) > 1 and reference == _text(entry, "AcctSvcrRef"):
            reference = f"{reference}/{t + 1}"
        document = _text(tx, "Refs/EndToEndId") or _text(tx, "Refs/InstrId") or reference
        if document == "NOTPROVIDED":
            document = reference
        payer_account = _text(tx, "RltdPties/DbtrAcct/Id/IBAN") or _text(tx, "RltdPties/DbtrAcct/Id/Othr/Id")
        lines.append(
            StatementLine(
                entry_key=_key(account, booked, reference, amount, payer_account, purpose),
                account=account,
                booked_on=booked,
                amount=amount,
                currency=currency,
                payer_name=_text(debtor, "Nm"),
                payer_tax_id=_party_tax_id(debtor),
                payer_account=payer_account,
                purpose=purpose,
                document_number=document,
            )
        )
    return lines


def _key(
    account: str, day: date, reference: str | None, amount: Decimal, payer_account: str | None, purpose: str
) -> str:
    """The bank's own reference where it gives one; else what the payment is made of (the same file read
    again gives the same key)."""
    if reference:
        return f"{account}|{day.isoformat()}|{reference}"[:300]
    digest = hashlib.sha256(f"{amount}|{payer_account}|{purpose}".encode()).hexdigest()[:24]
    return f"{account}|{day.isoformat()}|#{digest}"


# --- 1CClientBankExchange -----------------------------------------------------------------------------------


def _decode_1c(data: bytes) -> str:
    """UTF-8 when the bytes are (with or without a BOM), else Windows-1251, the format's own default."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1251")


def _ru_day(text: str | None, what: str) -> date:
    try:
        return datetime.strptime((text or "").strip(), "%d.%m.%Y").date()
    except ValueError:
        raise BadStatement(f"{what}: {text!r} is not a date (ДД.ММ.ГГГГ)") from None


def read_1c(data: bytes) -> list[StatementLine]:
    text = _decode_1c(data)
    rows = [r.strip() for r in text.splitlines()]
    if not rows or rows[0] != "1CClientBankExchange":
        raise BadStatement("not a 1CClientBankExchange file")
    header: dict[str, str] = {}
    documents: list[tuple[int, dict[str, str]]] = []
    ours: set[str] = set()
    current: dict[str, str] | None = None
    in_account = False
    for number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        key, _, value = row.partition("=")
        if key == "СекцияДокумент":
            current = {"Вид": value}
            documents.append((number, current))
        elif key == "КонецДокумента":
            current = None
        elif key == "СекцияРасчСчет":
            in_account = True
        elif key == "КонецРасчСчет":
            in_account = False
        elif key == "КонецФайла":
            break
        elif current is not None:
            current[key] = value.strip()
        elif (in_account and key == "РасчСчет") or key == "РасчСчет":
            ours.add(value.strip())
        else:
            header[key] = value.strip()
    if not ours:
        raise BadStatement("the file names no account of ours (РасчСчет)")
    lines = []
    for number, doc in documents:
        where = f"line {number}"
        account = doc.get("ПолучательРасчСчет") or doc.get("ПолучательСчет")
        if account not in ours:
            continue  # money leaving us
        if not doc.get("Номер"):
            raise BadStatement(f"{where}: the document has no number (Номер)")
        written = _ru_day(doc.get("Дата"), f"{where}: Дата")
        booked = _ru_day(doc["ДатаПоступило"], f"{where}: ДатаПоступило") if doc.get("ДатаПоступило") else written
        payer_account = doc.get("ПлательщикРасчСчет") or doc.get("ПлательщикСчет")
        lines.append(
            StatementLine(
                # The payment order's own identity: its number, its date and the account it came from.
                entry_key=f"{account}|{written.isoformat()}|{doc['Номер']}|{payer_account or ''}"[:300],
                account=account,
                booked_on=booked,
                amount=_money(doc.get("Сумма"), f"{where}: Сумма"),
                currency="RUB",
                payer_name=doc.get("Плательщик1") or doc.get("Плательщик"),
                payer_tax_id=doc.get("ПлательщикИНН") or None,
                payer_account=payer_account,
                purpose=doc.get("НазначениеПлатежа", ""),
                document_number=doc["Номер"],
            )
        )
    return lines


# --- matching ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenInvoice:
    id: uuid.UUID
    number: str
    client_id: uuid.UUID
    client_tax_id: str | None
    currency: str
    total: Decimal
    outstanding: Decimal


@dataclass(frozen=True)
class Match:
    invoice: OpenInvoice | None
    reason: str | None  # why there is none, for the person who matches it by hand


def invoice_numbers(purpose: str) -> list[str]:
    """Invoice numbers written in a payment's purpose: `2026-000017`, `2026/17`, `№ 2026-17`."""
    return [f"{int(y):04d}-{int(n):06d}" for y, n in INVOICE_NUMBER.findall(purpose or "")]


def _digits(tax_id: str | None) -> str | None:
    return re.sub(r"\D", "", tax_id) or None if tax_id else None


def match(line: StatementLine, by_number: dict[str, OpenInvoice], of_tax_id: Iterable[OpenInvoice]) -> Match:
    """The open invoice this payment pays, or why none can be said for sure.

    The invoice number in the purpose, the payer's tax id and the amount must all agree: the number
    names the invoice, the tax id proves the payer is its client, the amount (the whole outstanding sum,
    or the whole invoice) proves it is this payment. Without a number, a payer with exactly one open
    invoice of exactly this amount is matched to it. Anything less goes to a person."""
    payer = _digits(line.payer_tax_id)
    if payer is None:
        return Match(None, "the payer's tax id is not in the statement")
    numbers = list(dict.fromkeys(invoice_numbers(line.purpose)))
    named = [by_number[n] for n in numbers if n in by_number]
    if numbers and not named:
        return Match(None, f"no open invoice {', '.join(numbers)}")
    if named:
        theirs = [i for i in named if _digits(i.client_tax_id) == payer]
        if not theirs:
            return Match(None, f"invoice {named[0].number} is not the payer's (tax id {payer})")
        fits = [i for i in theirs if i.currency == line.currency and line.amount in (i.outstanding, i.total)]
        if len(fits) == 1:
            return Match(fits[0], None)
        if not fits:
            i = theirs[0]
            return Match(
                None,
                f"the amount {line.amount} {line.currency} is not what invoice {i.number} asks "
                f"({i.outstanding} {i.currency} outstanding)",
            )
        return Match(None, "the purpose names several invoices of this amount")
    candidates = [i for i in of_tax_id if _digits(i.client_tax_id) == payer and i.currency == line.currency]
    if not candidates:
        return Match(None, f"no client with tax id {payer} has an open invoice")
    fits = [i for i in candidates if i.outstanding == line.amount]
    if len(fits) == 1:
        return Match(fits[0], None)
    return Match(
        None,
        "the purpose names no invoice and the amount fits "
        + ("none" if not fits else "several")
        + " of the payer's open invoices",
    )
