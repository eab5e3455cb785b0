import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from mercator.contacts.domain import (
    NAME_SIMILARITY_THRESHOLD,
    ActivityDraft,
    ActivityKind,
    CardChanged,
    CardFingerprint,
    CardMerged,
    CardReassigned,
    ClientCard,
    CompanyStatus,
    Direction,
    DomainError,
    InvalidValue,
    LikelyDuplicate,
    Meeting,
    MeetingKind,
    MeetingStatus,
    RuleViolation,
    candidate_name_prefix,
    check_status_change,
    find_likely_duplicates,
    matching_name,
    merge_cards,
    name_similarity,
    normalise_email,
    normalise_phone,
    normalise_tax_id,
    phone_digits,
    search_key,
    validate_schedule,
)

UTC = UTC
MSK = timezone(timedelta(hours=3))
NOON = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


# --- errors -----------------------------------------------------------------


def test_domain_errors_carry_rule_message_and_field():
    error = InvalidValue("invalid_phone", "bad phone", "phones[1]")
    assert isinstance(error, DomainError)
    assert (error.rule, error.message, error.field) == ("invalid_phone", "bad phone", "phones[1]")
    assert str(error) == "bad phone"
    assert issubclass(RuleViolation, DomainError)
    assert RuleViolation("x", "y").field is None


# --- search keys ------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("ЁЛКА", "елка"),
        ("  Ёлка \t  Зелёная\n", "елка зеленая"),
        ("Straße", "strasse"),
        ("е\u0308ж", "еж"),  # decomposed ё, as pasted from some editors
        ("ＡＢＣ １２", "abc 12"),  # full-width forms
    ],
)
def test_search_key(raw, expected):
    assert search_key(raw) == expected


def test_phone_digits_keeps_only_digits():
    assert phone_digits("+7 (495) 123-45-67") == "74951234567"
    assert phone_digits("доб. １２") == "12"
    assert phone_digits("нет") == ""


# --- phones -----------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "8 (495) 123-45-67",
        "+7 495 123 45 67",
        "4951234567",
        "+7(495)1234567",
        "7 495 123-45-67",
    ],
)
def test_russian_phone_formats_give_e164(raw):
    assert normalise_phone(raw) == "+74951234567"


def test_mobile_and_foreign_phones():
    assert normalise_phone("8-916-123-45-67") == "+79161234567"
    assert normalise_phone("+44 20 7946 0958") == "+442079460958"
    assert normalise_phone("020 7946 0958", default_region="GB") == "+442079460958"


@pytest.mark.parametrize("raw", ["", "garbage", "12", "+7 000 000 00 00", "8 (495) 123-45"])
def test_bad_phone_is_invalid_value_with_field(raw):
    with pytest.raises(InvalidValue) as caught:
        normalise_phone(raw, field="phones[1]")
    assert caught.value.rule == "invalid_phone"
    assert caught.value.field == "phones[1]"


def test_phone_error_field_defaults_to_phone():
    with pytest.raises(InvalidValue) as caught:
        normalise_phone("abc")
    assert caught.value.field == "phone"


# --- e-mails ----------------------------------------------------------------


def test_email_is_stripped_and_lower_cased():
    assert normalise_email("  Ivan.Petrov@Mail.RU ") == "ivan.petrov@mail.ru"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "ivan",
        "ivan@",
        "@mail.ru",
        "ivan@mail",
        "ivan@@mail.ru",
        "iv an@mail.ru",
        "ivan@mail..ru",
        "ivan@.ru",
        "a@b@c.ru",
    ],
)
def test_bad_email_is_invalid(raw):
    with pytest.raises(InvalidValue) as caught:
        normalise_email(raw, field="emails[0]")
    assert (caught.value.rule, caught.value.field) == ("invalid_email", "emails[0]")


# --- tax ids ----------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("7707083893", "7707083893"),  # Sberbank
        ("7736207543", "7736207543"),  # Yandex
        (" 7707 083 893 ", "7707083893"),
        ("500100732259", "500100732259"),  # individual, 12 digits
        ("774312345611", "774312345611"),  # computed by hand: every weight meets a non-zero digit
        ("de-123456789", "DE-123456789"),
        ("GB123456789", "GB123456789"),
    ],
)
def test_valid_tax_ids(raw, expected):
    assert normalise_tax_id(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_blank_tax_id_is_none(raw):
    assert normalise_tax_id(raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        "7707083894",  # last digit changed
        "7707083839",  # digits swapped
        "7736207544",
        "500100732258",  # second check digit wrong
        "500100732269",  # first check digit wrong
        "774312345612",
        "774312345621",
        "774312345511",  # a body digit changed
        "123456789",  # all digits, not an INN length
        "77070838930",
        "ABC",  # too short for a foreign id
        "A" * 21,
        "ИНН7707083893",  # Cyrillic is not a foreign id
        "DE_123456",
    ],
)
def test_invalid_tax_ids(raw):
    with pytest.raises(InvalidValue) as caught:
        normalise_tax_id(raw, field="card.tax_id")
    assert (caught.value.rule, caught.value.field) == ("invalid_tax_id", "card.tax_id")


# --- names ------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "ООО «Ромашка»",
        "Ромашка, ООО",
        'ООО "Ромашка"',
        "ромашка",
        "  РОМАШКА  ",
        "Общество с ограниченной ответственностью „Ромашка“",
        "АО 'Ромашка'",
        "ПАО Ромашка",
        "Публичное акционерное общество «Ромашка»",
        "Ромашка,ООО",
        "OOO Ромашка",  # Latin OOO
        "Ромашкa",  # Latin 'a' at the end
    ],
)
def test_matching_name_drops_legal_forms_quotes_and_punctuation(raw):
    assert matching_name(raw) == "ромашка"


def test_matching_name_foreign_and_inner_words():
    assert matching_name("Acme Ltd.") == "acme"
    assert matching_name("ACME Limited Liability Company") == "acme"
    assert matching_name("Siemens GmbH") == "siemens"
    assert matching_name("ИП Иванов Пётр") == "иванов петр"
    # a legal form as part of a word stays
    assert matching_name("Зоопарк «Аист»") == "зоопарк аист"
    assert matching_name("Pepsi Co") == "pepsi co"


def test_name_similarity():
    assert name_similarity("ООО Ромашка", "Ромашка ООО") == 1.0
    assert name_similarity("Иванов Пётр", "Петр Иванов") == 1.0
    assert name_similarity("Ромашка", "Ромашкa-М") > 0.85
    assert name_similarity("Ромашка", "Ромашко") >= NAME_SIMILARITY_THRESHOLD
    assert name_similarity("Ромашка", "Лютик") < 0.3
    assert name_similarity("ООО", "ООО") == 0.0


def test_candidate_name_prefix_uses_longest_word():
    assert candidate_name_prefix("ООО «Торговый дом Ромашка»") == "тор"
    assert candidate_name_prefix("ИП Ёлкин") == "елк"
    assert candidate_name_prefix("ГК Ли") == "ли"
    assert candidate_name_prefix("ООО") == "ооо"
    assert candidate_name_prefix("") == ""
    # the prefix must be found in the matching name of a likely duplicate
    assert candidate_name_prefix("Ромашка") in matching_name("Ромашка-М, ООО")


# --- duplicates -------------------------------------------------------------

NEW_ID = uuid.uuid4()


def card(name, tax_id=None, phones=(), emails=(), company_id=None):
    return CardFingerprint(company_id or uuid.uuid4(), name, tax_id, tuple(phones), tuple(emails))


def test_duplicate_by_tax_id_scores_one():
    new = CardFingerprint(None, "Совсем другое", tax_id="7707083893")
    other = card("Сбербанк", tax_id="7707083893")
    assert find_likely_duplicates(new, [other]) == [
        LikelyDuplicate(other.company_id, "Сбербанк", ("same_tax_id",), 1.0)
    ]


def test_duplicate_by_phone_and_by_email():
    new = card("Альфа", phones=["+74951234567"], emails=["info@alfa.ru"], company_id=NEW_ID)
    by_phone = card("Бета", phones=["+79161234567", "+74951234567"])
    by_email = card("Гамма", emails=["info@alfa.ru"])
    result = find_likely_duplicates(new, [by_phone, by_email])
    assert [(d.name, d.reasons, d.score) for d in result] == [
        ("Бета", ("same_phone",), 0.95),
        ("Гамма", ("same_email",), 0.95),
    ]


def test_public_mail_domain_alone_is_not_a_match():
    new = card("Альфа", emails=["ivanov@mail.ru"])
    other = card("Бета", emails=["petrov@mail.ru"])
    assert find_likely_duplicates(new, [other]) == []


def test_duplicate_by_similar_name_uses_similarity_as_score():
    new = card("ООО «Ромашка»")
    same = card("Ромашка ЗАО")
    typo = card("Ромашко")
    unrelated = card("Лютик")
    result = find_likely_duplicates(new, [unrelated, typo, same])
    assert [(d.company_id, d.reasons) for d in result] == [
        (same.company_id, ("similar_name",)),
        (typo.company_id, ("similar_name",)),
    ]
    assert result[0].score == 1.0
    assert result[1].score == pytest.approx(name_similarity("Ромашка", "Ромашко"))


def test_all_reasons_in_fixed_order_and_tax_id_dominates():
    new = card("Ромашка", "7736207543", ["+74951234567"], ["a@romashka.ru"])
    other = card("Ромашка", "7736207543", ["+74951234567"], ["a@romashka.ru"])
    (found,) = find_likely_duplicates(new, [other])
    assert found.reasons == ("same_tax_id", "same_phone", "same_email", "similar_name")
    assert found.score == 1.0


def test_contact_match_outranks_weaker_name_match_and_ties_sort_by_name():
    new = card("Ромашка", phones=["+74951234567"])
    weak_name = card("Ромашко")
    phone_b = card("Бета", phones=["+74951234567"])
    phone_a = card("альфа", phones=["+74951234567"])
    result = find_likely_duplicates(new, [weak_name, phone_b, phone_a])
    assert [d.name for d in result] == ["альфа", "Бета", "Ромашко"]


def test_card_is_not_its_own_duplicate_and_unsaved_cards_are_skipped():
    new = card("Ромашка", "7707083893", company_id=NEW_ID)
    itself = card("Ромашка", "7707083893", company_id=NEW_ID)
    unsaved = CardFingerprint(None, "Ромашка", "7707083893")
    assert find_likely_duplicates(new, [itself, unsaved]) == []


def test_missing_tax_ids_do_not_match_each_other():
    assert find_likely_duplicates(card("Альфа"), [card("Омега")]) == []


# --- merging ----------------------------------------------------------------


def test_merge_scalars_survivor_wins_unless_empty():
    survivor = {"name": "Ромашка", "tax_id": None, "site": "", "tags": [], "employees": 0, "active": False}
    absorbed = {
        "name": "Ромашка-М",
        "tax_id": "7707083893",
        "site": "romashka.ru",
        "tags": ["vip"],
        "employees": 50,
        "active": True,
        "city": "Москва",
    }
    assert merge_cards(survivor, absorbed) == {
        "name": "Ромашка",
        "tax_id": "7707083893",
        "site": "romashka.ru",
        "tags": ["vip"],
        "employees": 0,
        "active": False,
        "city": "Москва",
    }


def test_merge_phones_and_emails_union_in_order():
    survivor = {"phones": ["+74951234567", "+79161234567"], "emails": None}
    absorbed = {"phones": ["+79161234567", "+78005553535", "+74951234567"], "emails": ["a@x.ru", "a@x.ru"]}
    merged = merge_cards(survivor, absorbed)
    assert merged["phones"] == ["+74951234567", "+79161234567", "+78005553535"]
    assert merged["emails"] == ["a@x.ru"]


@pytest.mark.parametrize(
    "mine, theirs, expected",
    [
        ("Звонить после 10", "Любит чай", "Звонить после 10\n\nЛюбит чай"),
        ("Любит чай", "Любит чай", "Любит чай"),
        (None, "Любит чай", "Любит чай"),
        ("Любит чай", "", "Любит чай"),
        ("", None, ""),
    ],
)
def test_merge_notes(mine, theirs, expected):
    assert merge_cards({"notes": mine}, {"notes": theirs})["notes"] == expected


def test_merge_never_mutates_or_aliases_inputs():
    survivor = {"phones": ["+74951234567"], "tags": None, "notes": "a"}
    absorbed = {"phones": ["+79161234567"], "tags": ["vip"], "notes": "b"}
    merged = merge_cards(survivor, absorbed)
    merged["phones"].append("x")
    merged["tags"].append("x")
    assert survivor == {"phones": ["+74951234567"], "tags": None, "notes": "a"}
    assert absorbed == {"phones": ["+79161234567"], "tags": ["vip"], "notes": "b"}


# --- meetings ---------------------------------------------------------------


def test_completing_a_meeting_writes_a_meeting_entry():
    meeting = Meeting(MeetingKind.MEETING, NOON, 60)
    done_at = NOON + timedelta(hours=1)
    draft = meeting.complete("  Договорились о пилоте ", done_at)
    assert meeting.status is MeetingStatus.DONE
    assert draft == ActivityDraft(ActivityKind.MEETING, Direction.OUTBOUND, done_at, None, "Договорились о пилоте")


def test_completing_a_call_writes_a_call_entry():
    draft = Meeting(MeetingKind.CALL, NOON, 15).complete("Перезвонить в мае", NOON)
    assert draft.kind is ActivityKind.CALL
    assert draft.direction is Direction.OUTBOUND


@pytest.mark.parametrize("summary", ["", "   \n"])
def test_completing_needs_a_summary_and_keeps_meeting_planned(summary):
    meeting = Meeting(MeetingKind.MEETING, NOON, 30)
    with pytest.raises(InvalidValue) as caught:
        meeting.complete(summary, NOON)
    assert (caught.value.rule, caught.value.field) == ("summary_required", "summary")
    assert meeting.status is MeetingStatus.PLANNED


def test_completing_with_naive_time_is_refused():
    meeting = Meeting(MeetingKind.CALL, NOON, 30)
    with pytest.raises(InvalidValue) as caught:
        meeting.complete("ok", datetime(2025, 3, 14, 12, 0))
    assert caught.value.rule == "naive_time"
    assert meeting.status is MeetingStatus.PLANNED


@pytest.mark.parametrize("status", [MeetingStatus.DONE, MeetingStatus.CANCELLED])
def test_only_planned_meetings_change(status):
    meeting = Meeting(MeetingKind.MEETING, NOON, 30, status)
    for action in (
        lambda: meeting.complete("итог", NOON),
        meeting.cancel,
        lambda: meeting.reschedule(NOON + timedelta(days=1), 45),
    ):
        with pytest.raises(RuleViolation) as caught:
            action()
        assert caught.value.rule == "meeting_not_planned"
    assert meeting.status is status
    assert (meeting.starts_at, meeting.duration_minutes) == (NOON, 30)


def test_cancel_and_reschedule():
    meeting = Meeting(MeetingKind.MEETING, NOON, 30)
    meeting.reschedule(datetime(2025, 3, 15, 10, 0, tzinfo=MSK), 90)
    assert meeting.starts_at == datetime(2025, 3, 15, 7, 0, tzinfo=UTC)
    assert meeting.starts_at.utcoffset() == timedelta(0)
    assert meeting.duration_minutes == 90
    meeting.cancel()
    assert meeting.status is MeetingStatus.CANCELLED


def test_reschedule_validates_and_keeps_old_time_on_error():
    meeting = Meeting(MeetingKind.MEETING, NOON, 30)
    with pytest.raises(InvalidValue):
        meeting.reschedule(NOON, 0)
    assert meeting.duration_minutes == 30


def test_meeting_accepts_plain_strings_and_validates_itself():
    meeting = Meeting("call", NOON, 10, "planned")
    assert meeting.kind is MeetingKind.CALL and meeting.status is MeetingStatus.PLANNED
    with pytest.raises(InvalidValue):
        Meeting(MeetingKind.MEETING, datetime(2025, 3, 14, 12, 0), 30)


@pytest.mark.parametrize(
    "starts_at, duration, reminder",
    [
        (NOON, 1, None),
        (NOON, 24 * 60, 0),
        (NOON.astimezone(MSK), 30, 7 * 24 * 60),
    ],
)
def test_valid_schedules(starts_at, duration, reminder):
    validate_schedule(starts_at, duration, reminder)


@pytest.mark.parametrize(
    "starts_at, duration, reminder, rule, field",
    [
        (datetime(2025, 3, 14, 12), 30, None, "naive_time", "starts_at"),
        (NOON, 0, None, "invalid_duration", "duration_minutes"),
        (NOON, 24 * 60 + 1, None, "invalid_duration", "duration_minutes"),
        (NOON, 30, -1, "invalid_reminder", "reminder_minutes_before"),
        (NOON, 30, 7 * 24 * 60 + 1, "invalid_reminder", "reminder_minutes_before"),
    ],
)
def test_invalid_schedules(starts_at, duration, reminder, rule, field):
    with pytest.raises(InvalidValue) as caught:
        validate_schedule(starts_at, duration, reminder)
    assert (caught.value.rule, caught.value.field) == (rule, field)


# --- company status ---------------------------------------------------------


@pytest.mark.parametrize(
    "current, new",
    [
        (CompanyStatus.PROSPECT, CompanyStatus.CLIENT),
        (CompanyStatus.PROSPECT, CompanyStatus.FORMER),
        (CompanyStatus.CLIENT, CompanyStatus.FORMER),
        (CompanyStatus.CLIENT, CompanyStatus.PROSPECT),
        (CompanyStatus.FORMER, CompanyStatus.CLIENT),
        (CompanyStatus.FORMER, CompanyStatus.FORMER),
    ],
)
def test_allowed_status_changes(current, new):
    check_status_change(current, new)


def test_former_client_cannot_become_prospect():
    with pytest.raises(RuleViolation) as caught:
        check_status_change(CompanyStatus.FORMER, CompanyStatus.PROSPECT)
    assert (caught.value.rule, caught.value.field) == ("status_change_not_allowed", "status")


# --- the client card aggregate ------------------------------------------------------------------------------


def client_card(**fields) -> ClientCard:
    at = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    state = dict(
        id=uuid.uuid4(),
        name="ООО «Ромашка»",
        status="prospect",
        owner_id=uuid.uuid4(),
        department_id=None,
        legal_name=None,
        tax_id=None,
        region_id=None,
        industry_id=None,
        source_id=None,
        phones=[],
        emails=[],
        address=None,
        website=None,
        notes=None,
        created_at=at,
        updated_at=at,
        last_activity_at=None,
        version=1,
    )
    return ClientCard(**{**state, **fields})


def test_a_card_records_what_changed_and_a_change_to_the_same_values_is_no_fact():
    card = client_card(phones=["+74951234567"])
    assert card.change({"phones": ["+74951234567", "+74951234567"], "name": "ООО «Ромашка»"}) == []
    assert card.version == 1 and card.events == []
    assert card.change({"status": CompanyStatus.CLIENT, "website": "romashka.ru"}) == ["status", "website"]
    assert card.status == "client" and card.version == 2
    assert card.events == [CardChanged(("status", "website"))]


def test_a_card_keeps_its_status_rule_and_needs_a_name():
    with pytest.raises(RuleViolation):
        client_card(status="former").change({"status": CompanyStatus.PROSPECT})
    with pytest.raises(DomainError):
        client_card().change({"name": None})
    former = client_card(status="former")
    former.become_client()
    assert former.status == "client" and former.events == [CardChanged(("status",))]
    former.become_client()  # a second win changes nothing
    assert former.version == 2


def test_absorbing_a_duplicate_fills_blanks_and_merges_the_other_card_away():
    survivor = client_card(phones=["+74951234567"], last_activity_at=datetime(2026, 1, 1, tzinfo=UTC))
    other = client_card(
        name="Ромашка", tax_id="7707083893", phones=["+74957654321"], last_activity_at=datetime(2026, 3, 1, tzinfo=UTC)
    )
    survivor.absorb(other)
    assert survivor.name == "ООО «Ромашка»" and survivor.tax_id == "7707083893"
    assert survivor.phones == ["+74951234567", "+74957654321"]
    assert survivor.last_activity_at == other.last_activity_at
    assert other.merged_into_id == survivor.id and (survivor.version, other.version) == (2, 2)
    assert survivor.events == [CardMerged(other.id)]
    with pytest.raises(DomainError):
        survivor.absorb(survivor)


def test_reassigning_to_the_same_owner_is_no_fact_and_last_activity_never_goes_back():
    card = client_card()
    assert card.reassign(card.owner_id, None) is False and card.events == []
    previous = card.owner_id
    assert card.reassign(uuid.uuid4(), None) is True and card.events == [CardReassigned(previous)]
    card.note_activity(datetime(2026, 5, 2, tzinfo=UTC))
    card.note_activity(datetime(2026, 5, 1, tzinfo=UTC))
    assert card.last_activity_at == datetime(2026, 5, 2, tzinfo=UTC)
