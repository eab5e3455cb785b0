"""Bank statements: camt.053 and 1CClientBankExchange files made here, imported through billing's API against
a real PostgreSQL; what matches becomes a payment once however often the statement comes in, the rest waits
for a person. Every test's writes are rolled back."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from mercator.billing import statements
from mercator.billing.days import today
from mercator.billing.tables import Payment
from mercator.billing.testing import announce_sale
from mercator.common.errors import InvalidValue
from mercator.common.testing.api import caller
from mercator.common.testing.kit import published

TODAY = today("Europe/Moscow")
OURS = "40702810900000012345"
INN = "7707083893"


# --- files as banks write them ------------------------------------------------------------------------------


def one_c(documents: list[dict], encoding: str = "cp1251") -> bytes:
    head = [
        "1CClientBankExchange",
        "ВерсияФормата=1.03",
        "Кодировка=Windows",
        "Отправитель=Бухгалтерия",
        f"ДатаНачала={TODAY:%d.%m.%Y}",
        f"ДатаКонца={TODAY:%d.%m.%Y}",
        f"РасчСчет={OURS}",
        "СекцияРасчСчет",
        f"РасчСчет={OURS}",
        "КонецРасчСчет",
    ]
    body = []
    for d in documents:
        body += ["СекцияДокумент=Платежное поручение", *(f"{k}={v}" for k, v in d.items()), "КонецДокумента"]
    return "\r\n".join(head + body + ["КонецФайла", ""]).encode(encoding)


def payment_order(
    number: str,
    amount: str,
    purpose: str,
    inn: str | None = INN,
    payer_account="40702810100000000001",
    to=OURS,
    day=TODAY,
) -> dict:
    return {
        "Номер": number,
        "Дата": f"{day:%d.%m.%Y}",
        "Сумма": amount,
        "ПлательщикСчет": payer_account,
        "Плательщик": f"ИНН {inn} ООО «Ромашка»",
        "ПлательщикИНН": inn or "",
        "Плательщик1": "ООО «Ромашка»",
        "ПолучательСчет": to,
        "ПолучательИНН": "7700000000",
        "Получатель1": "ООО «Меркатор»",
        "ДатаПоступило": f"{day:%d.%m.%Y}",
        "НазначениеПлатежа": purpose,
    }


def camt053(entries: list[dict], account="RU0204452560040702810900000012345") -> bytes:
    ns = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
    out = [
        f'<?xml version="1.0" encoding="UTF-8"?><Document xmlns="{ns}"><BkToCstmrStmt>',
        "<GrpHdr><MsgId>STMT-1</MsgId><CreDtTm>2026-01-01T00:00:00</CreDtTm></GrpHdr>",
        f"<Stmt><Id>1</Id><Acct><Id><IBAN>{account}</IBAN></Id></Acct>",
    ]
    for e in entries:
        out.append(
            f'<Ntry><Amt Ccy="{e.get("ccy", "RUB")}">{e["amount"]}</Amt><CdtDbtInd>{e.get("dir", "CRDT")}</CdtDbtInd>'
            f"<Sts>BOOK</Sts><BookgDt><Dt>{TODAY.isoformat()}</Dt></BookgDt><AcctSvcrRef>{e['ref']}</AcctSvcrRef>"
            f"<NtryDtls><TxDtls><Refs><EndToEndId>{e.get('e2e', 'NOTPROVIDED')}</EndToEndId></Refs>"
            f"<RltdPties><Dbtr><Nm>{e.get('name', 'ООО Ромашка')}</Nm><Id><OrgId><Othr><Id>{e.get('inn', INN)}</Id>"
            f"<SchmeNm><Cd>TXID</Cd></SchmeNm></Othr></OrgId></Id></Dbtr>"
            f"<DbtrAcct><Id><Othr><Id>40702810100000000001</Id></Othr></Id></DbtrAcct></RltdPties>"
            f"<RmtInf><Ustrd>{e['purpose']}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"
        )
    out.append("</Stmt></BkToCstmrStmt></Document>")
    return "".join(out).encode()


# --- reading, without a database ------------------------------------------------------------------------------


def test_1c_in_windows_1251_and_utf8_reads_the_same_incoming_payments_only():
    docs = [
        payment_order("101", "122000.00", "Оплата по счету № 2026-000017 от 01.02.2026, в т.ч. НДС"),
        payment_order("55", "500.00", "Оплата аренды", payer_account=OURS, to="40702810000000000999"),
    ]
    for encoding in ("cp1251", "utf-8"):
        fmt, lines = statements.read_statement(one_c(docs, encoding))
        assert fmt == "1c" and len(lines) == 1  # the outgoing rent is not billing's
        line = lines[0]
        assert (line.amount, line.payer_tax_id, line.document_number) == (Decimal("122000.00"), INN, "101")
        assert line.payer_name == "ООО «Ромашка»" and "2026-000017" in line.purpose
        assert statements.invoice_numbers(line.purpose) == ["2026-000017"]
    assert (
        statements.read_statement(one_c(docs))[1][0].entry_key
        == statements.read_statement(one_c(docs, "utf-8"))[1][0].entry_key
    )


def test_camt053_reads_credits_with_the_payers_tax_id_and_skips_debits():
    fmt, lines = statements.read_statement(
        camt053(
            [
                {"amount": "1500.50", "ref": "A1", "purpose": "Счёт 2026/5"},
                {"amount": "99.00", "ref": "A2", "dir": "DBIT", "purpose": "Комиссия банка"},
            ]
        )
    )
    assert fmt == "camt.053" and len(lines) == 1
    assert (lines[0].amount, lines[0].currency, lines[0].payer_tax_id) == (Decimal("1500.50"), "RUB", INN)
    assert statements.invoice_numbers(lines[0].purpose) == ["2026-000005"]


def test_a_statement_with_an_external_entity_or_garbage_is_refused():
    evil = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<Document><BkToCstmrStmt><Stmt><Acct><Id><IBAN>&x;</IBAN></Id></Acct></Stmt></BkToCstmrStmt></Document>"
    )
    for data in (evil, b"hello", b"<Document><BkToCstmrStmt>", one_c([payment_order("1", "abc", "x")])):
        with pytest.raises(InvalidValue) as refused:
            statements.read_statement(data)
        assert refused.value.field == "file"


def test_the_match_needs_number_tax_id_and_amount_to_agree():
    client_id = uuid.uuid4()
    invoice = statements.OpenInvoice(
        uuid.uuid4(), "2026-000017", client_id, INN, "RUB", Decimal("122000.00"), Decimal("122000.00")
    )
    line = statements.read_statement(one_c([payment_order("1", "122000.00", "по счету 2026-17")]))[1][0]
    assert statements.match(line, {invoice.number: invoice}, [invoice]).invoice == invoice
    other_payer = statements.read_statement(
        one_c([payment_order("1", "122000.00", "по счету 2026-17", inn="5001001001")])
    )[1][0]
    assert "not the payer's" in statements.match(other_payer, {invoice.number: invoice}, []).reason
    short = statements.read_statement(one_c([payment_order("1", "1000.00", "по счету 2026-17")]))[1][0]
    assert (
        "is not what invoice 2026-000017 asks" in statements.match(short, {invoice.number: invoice}, [invoice]).reason
    )
    no_number = statements.read_statement(one_c([payment_order("1", "122000.00", "оплата по договору")]))[1][0]
    assert statements.match(no_number, {}, [invoice]).invoice == invoice  # the payer's one invoice of this amount
    twin = statements.OpenInvoice(
        uuid.uuid4(), "2026-000018", client_id, INN, "RUB", Decimal("122000.00"), Decimal("122000.00")
    )
    assert "several" in statements.match(no_number, {}, [invoice, twin]).reason


# --- through the API --------------------------------------------------------------------------------------------

pg = pytest.mark.postgres


@pytest.fixture
def executive():
    return caller("Пётр Ильин", roles=("executive",))


@pytest.fixture
async def boss(api_as, executive):
    async with api_as(executive) as c:
        yield c


async def client_with_invoice(app, api, manager, amount="100000.00", tax_id=INN) -> tuple[uuid.UUID, dict]:
    deal_id, company_id = await announce_sale(app, manager, tax_id=tax_id, client_name="ООО «Ромашка»")
    draft = await api.post(
        "/api/v1/invoices",
        json={
            "deal_id": str(deal_id),
            "due_date": str(TODAY + timedelta(days=10)),
            "lines": [{"description": "Лицензия", "quantity": "1", "unit_price": amount, "vat_rate": "none"}],
        },
    )
    invoice = (await api.post(f"/api/v1/invoices/{draft.json()['id']}/issue")).json()
    return company_id, invoice


async def count(app, model) -> int:
    async with app.state.runtime.sessionmaker() as s:
        return await s.scalar(select(func.count()).select_from(model))


async def event_types(app) -> list[str]:
    return [e.type for e in await published(app)]


@pg
async def test_a_1c_statement_pays_its_invoice_once_however_often_it_is_imported(app, api, boss, manager):
    company_id, invoice = await client_with_invoice(app, api, manager)
    statement = one_c(
        [
            payment_order("101", "100000.00", f"Оплата по счету № {invoice['number']} от {TODAY:%d.%m.%Y}. Без НДС"),
            payment_order("102", "777.00", "Возврат излишне уплаченного", inn="5001001001"),
        ]
    )
    first = await boss.post("/api/v1/bank-statements", content=statement, headers={"content-type": "text/plain"})
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["format"], body["lines"], body["new"], body["matched"]) == ("1c", 2, 2, 1)
    assert [u["amount"] for u in body["unmatched"]] == ["777.00"]
    assert "5001001001" in body["unmatched"][0]["reason"]
    paid = (await api.get(f"/api/v1/invoices/{invoice['id']}")).json()
    assert paid["status"] == "paid" and paid["outstanding"] == "0.00"
    payments = (await api.get("/api/v1/payments", params={"company_id": str(company_id)})).json()
    assert [(p["amount"], p["allocations"][0]["invoice_id"]) for p in payments] == [("100000.00", invoice["id"])]
    assert (await event_types(app)).count("PaymentReceived") == 1

    for _ in range(2):  # the same statement again, and again: nothing more
        again = (await boss.post("/api/v1/bank-statements", content=statement)).json()
        assert (again["lines"], again["new"], again["matched"], again["unmatched"]) == (2, 0, 0, [])
    assert await count(app, Payment) == 1 and (await event_types(app)).count("PaymentReceived") == 1

    waiting = (await boss.get("/api/v1/bank-statements/lines", params={"status": "unmatched"})).json()
    assert [line["document_number"] for line in waiting["items"]] == ["102"]


@pg
async def test_a_person_matches_what_the_import_could_not(app, api, boss, manager):
    company_id, invoice = await client_with_invoice(app, api, manager, amount="5000.00", tax_id=None)
    statement = camt053(
        [{"amount": "5000.00", "ref": "BANK-REF-1", "e2e": "PP-33", "purpose": f"Оплата по счету {invoice['number']}"}]
    )
    body = (
        await boss.post("/api/v1/bank-statements", content=statement, headers={"content-type": "application/xml"})
    ).json()
    assert body["matched"] == 0 and "not the payer's" in body["unmatched"][0]["reason"]  # billing knows no tax id
    line = body["unmatched"][0]

    wrong = await boss.post(f"/api/v1/bank-statements/lines/{line['id']}/match", json={"invoice_id": str(uuid.uuid4())})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "invoice_id"
    stale = await boss.post(
        f"/api/v1/bank-statements/lines/{line['id']}/match",
        json={"invoice_id": invoice["id"]},
        headers={"If-Match": '"7"'},
    )
    assert stale.status_code == 412
    assert await count(app, Payment) == 0

    matched = await boss.post(f"/api/v1/bank-statements/lines/{line['id']}/match", json={"invoice_id": invoice["id"]})
    assert matched.status_code == 200, matched.text
    assert matched.json()["status"] == "matched" and matched.json()["company_id"] == str(company_id)
    assert (await api.get(f"/api/v1/invoices/{invoice['id']}")).json()["status"] == "paid"
    twice = await boss.post(f"/api/v1/bank-statements/lines/{line['id']}/match", json={"invoice_id": invoice["id"]})
    assert twice.status_code == 422 and twice.json()["rule"] == "statement_line_taken"
    assert await count(app, Payment) == 1
    assert (await boss.get("/api/v1/bank-statements/lines", params={"status": "unmatched"})).json()["items"] == []
    again = (await boss.post("/api/v1/bank-statements", content=statement)).json()
    assert again["new"] == 0 and await count(app, Payment) == 1


@pg
async def test_a_payment_entered_by_hand_first_is_not_recorded_again_from_the_statement(app, api, boss, manager):
    company_id, invoice = await client_with_invoice(app, api, manager, amount="3000.00")
    by_hand = await api.post(
        "/api/v1/payments",
        json={
            "company_id": str(company_id),
            "amount": "3000.00",
            "received_on": str(TODAY),
            "bank_reference": f"7 / {TODAY.isoformat()}",
        },
    )
    assert by_hand.status_code == 201
    body = (
        await boss.post(
            "/api/v1/bank-statements", content=one_c([payment_order("7", "3000.00", f"счет {invoice['number']}")])
        )
    ).json()
    # The invoice is paid already, so it is not open: nothing to match, and no second payment.
    assert body["matched"] == 0 and len(body["unmatched"]) == 1
    assert await count(app, Payment) == 1


@pg
async def test_bad_statements_and_callers_who_do_not_see_all_billing_change_nothing(app, api, boss):
    refused = await boss.post("/api/v1/bank-statements", content=b"<Document><oops")
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "file"
    manager_try = await api.post("/api/v1/bank-statements", content=one_c([payment_order("1", "1.00", "x")]))
    assert manager_try.status_code == 403
    assert (await api.get("/api/v1/bank-statements/lines")).status_code == 403
    assert (await boss.get("/api/v1/bank-statements/lines")).json()["items"] == []


@pg
async def test_a_statement_uploaded_as_a_form_file_is_read_as_the_same_file_sent_as_the_body(app, api, boss, manager):
    """A browser's file input, or a client generated from the OpenAPI document, sends it as multipart/form-data."""
    _, invoice = await client_with_invoice(app, api, manager, amount="5000.00", tax_id=None)
    statement = camt053(
        [{"amount": "5000.00", "ref": "BANK-REF-9", "e2e": "PP-90", "purpose": f"Оплата по счету {invoice['number']}"}]
    )
    uploaded = await boss.post("/api/v1/bank-statements", files={"file": ("statement.xml", statement, "text/xml")})
    assert uploaded.status_code == 200, uploaded.text
    assert (uploaded.json()["format"], uploaded.json()["new"]) == ("camt.053", 1)
    again = (
        await boss.post(
            "/api/v1/bank-statements", content=statement, headers={"content-type": "application/octet-stream"}
        )
    ).json()
    assert (again["lines"], again["new"]) == (1, 0)  # one and the same payment
    nameless = await boss.post("/api/v1/bank-statements", files={"statement": ("s.xml", statement, "text/xml")})
    assert nameless.status_code == 422 and nameless.json()["errors"][0]["field"] == "file"
