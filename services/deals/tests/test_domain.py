import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from mercator.deals.domain import (
    DEFAULT_PIPELINE_STAGES,
    BoardDeal,
    Deal,
    DealLine,
    DealStatus,
    Edited,
    InvalidValue,
    Lost,
    OfferAccepted,
    OfferSide,
    OfferStatus,
    Opened,
    Pipeline,
    ProposalSent,
    Requirement,
    RuleViolation,
    Stage,
    StageAt,
    StageChanged,
    StageKind,
    Transition,
    TransitionKind,
    Won,
    board,
    is_stalled,
    stages_as_of,
    validate_pipeline,
)

UTC = UTC
MSK = timezone(timedelta(hours=3))
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TODAY = date(2026, 3, 2)
ALICE, BOB = uuid.uuid4(), uuid.uuid4()
PIPELINE = Pipeline(uuid.uuid4(), "Sales Expert", DEFAULT_PIPELINE_STAGES)


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def new_deal(**kwargs) -> Deal:
    kwargs = {"currency": "RUB", **kwargs}
    deal, _ = Deal.open(uuid.uuid4(), PIPELINE, T0, ALICE, **kwargs)
    return deal


def at_stage(code: str, **kwargs) -> Deal:
    # A deal that already got to `code` honestly, so tests start mid-pipeline.
    deal = new_deal(**kwargs)
    deal.rate_interest(4, None, T0)
    offer = deal.make_offer(uuid.uuid4(), "ours", "1000.00", "0", None, None, T0, ALICE, TODAY)
    deal.accept_offer(offer.id, TODAY)
    if code != deal.stage_code:
        deal.move_to(code, T0, ALICE)
    return deal


def broken(rule: str, call, *args, **kwargs):
    with pytest.raises((InvalidValue, RuleViolation)) as caught:
        call(*args, **kwargs)
    assert caught.value.rule == rule
    return caught.value


# --- pipelines -------------------------------------------------------------------


def test_default_pipeline_is_sales_experts():
    validate_pipeline(PIPELINE)
    assert [s.code for s in PIPELINE.open_stages] == [
        "interest",
        "needs",
        "demo",
        "tech_proposal",
        "commercial_proposal",
        "contract",
        "payment",
        "delivery",
    ]
    assert PIPELINE.first_stage.code == "interest"
    assert (PIPELINE.won_stage.code, PIPELINE.lost_stage.code) == ("won", "lost")
    assert PIPELINE.stage("demo").require_to_leave == {Requirement.INTEREST_RATED}
    assert PIPELINE.stage("contract").require_to_enter == {Requirement.OFFER_ACCEPTED}
    assert PIPELINE.stage("contract").probability == Decimal("0.70")
    assert PIPELINE.won_stage.stalled_after_days is None
    probabilities = [s.probability for s in PIPELINE.open_stages]
    assert probabilities == sorted(probabilities)


def test_unknown_stage():
    error = broken("unknown_stage", PIPELINE.stage, "negotiation")
    assert error.field == "stage"


def _with(i: int, **changes) -> Pipeline:
    stages = list(DEFAULT_PIPELINE_STAGES)
    stages[i] = replace(stages[i], **changes)
    return Pipeline(PIPELINE.id, "Custom", tuple(stages))


@pytest.mark.parametrize(
    "pipeline, rule, field",
    [
        (_with(3, probability=Decimal("1.5")), "bad_probability", "stages[3].probability"),
        (_with(3, probability=Decimal("-0.1")), "bad_probability", "stages[3].probability"),
        (_with(3, probability=0.4), "bad_probability", "stages[3].probability"),
        (_with(3, probability=Decimal("NaN")), "bad_probability", "stages[3].probability"),
        (_with(2, code="needs"), "duplicate_stage_code", "stages[2].code"),
        (_with(2, code="Demo Stage"), "bad_stage_code", "stages[2].code"),
        (_with(2, code=""), "bad_stage_code", "stages[2].code"),
        (_with(4, position=1), "duplicate_position", "stages[4].position"),
        (_with(1, stalled_after_days=0), "bad_stalled_after_days", "stages[1].stalled_after_days"),
        (_with(1, name="  "), "name_required", "stages[1].name"),
        (_with(5, kind="maybe"), "bad_stage_kind", "stages[5].kind"),
        (
            _with(5, require_to_enter=frozenset({"signed_in_blood"})),
            "unknown_requirement",
            "stages[5].require_to_enter",
        ),
        (_with(9, kind=StageKind.WON), "won_stage_count", "stages"),
        (_with(8, kind=StageKind.LOST), "won_stage_count", "stages"),
        (_with(9, kind=StageKind.OPEN), "lost_stage_count", "stages"),
        (Pipeline(PIPELINE.id, "Only closed", DEFAULT_PIPELINE_STAGES[8:]), "no_open_stage", "stages"),
        (Pipeline(PIPELINE.id, " ", DEFAULT_PIPELINE_STAGES), "name_required", "name"),
    ],
)
def test_broken_pipelines_are_refused_naming_the_field(pipeline, rule, field):
    assert broken(rule, validate_pipeline, pipeline).field == field


def test_a_company_pipeline_with_other_stages_validates():
    stages = (
        Stage("lead", "Lead", 10, Decimal("0.05"), None),
        Stage("pilot", "Pilot", 20, Decimal("0.5"), 60, require_to_enter=frozenset({"amount_set"})),
        Stage("done", "Done", 30, Decimal("1"), None, StageKind.WON),
        Stage("dropped", "Dropped", 40, Decimal("0"), None, StageKind.LOST),
    )
    pipeline = Pipeline(uuid.uuid4(), "Pilots", stages)
    validate_pipeline(pipeline)
    assert pipeline.first_stage.code == "lead"


# --- opening -------------------------------------------------------------------------


def test_open_starts_at_the_first_stage_with_an_open_transition():
    deal_id = uuid.uuid4()
    deal, transition = Deal.open(
        deal_id, PIPELINE, T0.astimezone(MSK), ALICE, "rub", "120000", expected_close_date=date(2026, 6, 30)
    )
    assert (deal.id, deal.stage_code, deal.status, deal.currency) == (deal_id, "interest", DealStatus.OPEN, "RUB")
    assert deal.amount == Decimal("120000.00")
    assert deal.entered_stage_at == T0 and deal.entered_stage_at.tzinfo == UTC
    assert transition == Transition(None, "interest", T0, None, ALICE, None, "open")


@pytest.mark.parametrize(
    "kwargs, rule, field",
    [
        ({"currency": "RUR"}, "unknown_currency", "currency"),
        ({"amount": "-5"}, "negative_amount", "amount"),
        ({"amount": 100.0}, "float_money", "amount"),
        ({"amount": "10.005"}, "too_many_decimals", "amount"),
        ({"stage_code": "nowhere"}, "unknown_stage", "stage"),
        ({"stage_code": "won"}, "use_win_or_lose", "stage"),
        ({"stage_code": "contract"}, "requirement_missing", "offer_accepted"),
    ],
)
def test_open_refuses_bad_input(kwargs, rule, field):
    kwargs = {"currency": "RUB", **kwargs}
    error = broken(rule, Deal.open, uuid.uuid4(), PIPELINE, T0, ALICE, **kwargs)
    assert error.field == field


def test_open_refuses_a_naive_time():
    broken("naive_time", Deal.open, uuid.uuid4(), PIPELINE, datetime(2026, 3, 2, 9), ALICE, "RUB")


def test_open_at_a_later_stage():
    deal, transition = Deal.open(uuid.uuid4(), PIPELINE, T0, ALICE, "RUB", stage_code="demo")
    assert deal.stage_code == transition.to_stage == "demo"


# --- lines ---------------------------------------------------------------------------


def test_lines_are_checked_and_totalled_in_the_deal_currency():
    product = uuid.uuid4()
    deal = new_deal(lines=[DealLine(product, "3", "1999.99", "10")])
    (line,) = deal.lines
    assert (line.quantity, line.unit_price, line.discount_percent) == (Decimal(3), Decimal("1999.99"), Decimal(10))
    assert line.total("RUB") == Decimal("5399.97")  # 5999.97 less 10%, rounded once
    assert DealLine(product, Decimal("2.5"), Decimal("3")).total("USD") == Decimal("7.50")


@pytest.mark.parametrize(
    "line, rule, field",
    [
        (DealLine(uuid.uuid4(), Decimal(0), Decimal(1)), "bad_quantity", "lines[1].quantity"),
        (DealLine(uuid.uuid4(), Decimal(-2), Decimal(1)), "bad_quantity", "lines[1].quantity"),
        (DealLine(uuid.uuid4(), 1.5, Decimal(1)), "float_money", "lines[1].quantity"),
        (DealLine(uuid.uuid4(), Decimal(1), Decimal("-1")), "negative_amount", "lines[1].unit_price"),
        (DealLine(uuid.uuid4(), Decimal(1), Decimal("0.001")), "too_many_decimals", "lines[1].unit_price"),
        (DealLine(uuid.uuid4(), Decimal(1), Decimal(1), Decimal(101)), "bad_discount", "lines[1].discount_percent"),
        (DealLine(uuid.uuid4(), Decimal(10**9), Decimal(10**9)), "amount_too_large", "lines[1]"),
    ],
)
def test_bad_lines_are_refused_and_the_old_ones_kept(line, rule, field):
    good = DealLine(uuid.uuid4(), Decimal(1), Decimal(100))
    deal = new_deal(lines=[good])
    assert broken(rule, deal.set_lines, [good, line]).field == field
    assert deal.lines == [good]


# --- moving ----------------------------------------------------------------------------


def test_moves_forward_skipping_and_back_each_with_time_in_the_stage_left():
    deal = new_deal()
    to_needs = deal.move_to("needs", hours(2), ALICE, " first call done ")
    assert (to_needs.from_stage, to_needs.to_stage, to_needs.seconds_in_previous) == ("interest", "needs", 7200)
    assert (to_needs.kind, to_needs.author_id, to_needs.comment) == ("move", ALICE, "first call done")
    skip = deal.move_to("commercial_proposal", hours(2) + timedelta(seconds=90.9), BOB)
    assert (skip.from_stage, skip.seconds_in_previous, skip.author_id) == ("needs", 90, BOB)
    back = deal.move_to("needs", hours(26), BOB, "client wants a new spec")
    assert (back.from_stage, back.to_stage) == ("commercial_proposal", "needs")
    assert back.seconds_in_previous == 24 * 3600 - 91  # 86309.1 s, whole seconds
    assert (deal.stage_code, deal.entered_stage_at) == ("needs", hours(26))


def test_seconds_in_previous_is_never_negative():
    deal = new_deal()
    assert deal.move_to("needs", T0 - timedelta(minutes=5), ALICE).seconds_in_previous == 0


@pytest.mark.parametrize(
    "target, rule",
    [
        ("interest", "same_stage"),
        ("won", "use_win_or_lose"),
        ("lost", "use_win_or_lose"),
        ("limbo", "unknown_stage"),
    ],
)
def test_impossible_moves_change_nothing(target, rule):
    deal = new_deal()
    broken(rule, deal.move_to, target, hours(1), ALICE)
    assert (deal.stage_code, deal.entered_stage_at) == ("interest", T0)


def test_leaving_demo_forward_needs_an_interest_rating():
    deal = new_deal(stage_code="demo")
    error = broken("requirement_missing", deal.move_to, "tech_proposal", hours(1), ALICE)
    assert error.field == "interest_rated" and "Demo" in error.message
    assert deal.stage_code == "demo"
    deal.rate_interest(4, "liked the reports", hours(1))
    assert deal.move_to("tech_proposal", hours(2), ALICE).from_stage == "demo"


def test_stepping_back_from_a_premature_demo_needs_no_rating():
    deal = new_deal(stage_code="demo")
    assert deal.move_to("needs", hours(1), ALICE).to_stage == "needs"


def test_entering_contract_needs_an_accepted_offer():
    deal = new_deal(stage_code="commercial_proposal")
    error = broken("requirement_missing", deal.move_to, "contract", hours(1), ALICE)
    assert error.field == "offer_accepted" and "Contract" in error.message
    offer = deal.make_offer(uuid.uuid4(), OfferSide.OURS, "500000", "5", None, None, hours(1), ALICE, TODAY)
    broken("requirement_missing", deal.move_to, "contract", hours(1), ALICE)  # made, not accepted
    deal.accept_offer(offer.id, TODAY)
    assert deal.move_to("contract", hours(2), ALICE).to_stage == "contract"


def test_skipping_into_contract_still_needs_the_offer():
    deal = new_deal()
    broken("requirement_missing", deal.move_to, "contract", hours(1), ALICE)
    deal.move_to("payment", hours(1), ALICE)  # skipping over contract is allowed
    broken("requirement_missing", deal.move_to, "contract", hours(2), ALICE)


# --- rating ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rating", [0, 6, -1, True, "5", 4.0, None])
def test_interest_is_rated_1_to_5(rating):
    deal = new_deal()
    assert broken("bad_rating", deal.rate_interest, rating, None, T0).field == "rating"
    assert deal.interest_rating is None


def test_rating_keeps_the_comment_and_time():
    deal = new_deal()
    deal.rate_interest(5, "  wants it yesterday ", hours(3))
    assert (deal.interest_rating, deal.interest_comment, deal.interest_rated_at) == (5, "wants it yesterday", hours(3))


# --- closing and reopening -------------------------------------------------------------


def test_win_closes_and_a_closed_deal_does_not_move():
    deal = at_stage("delivery")
    won = deal.win(hours(5), BOB, "paid and shipped")
    assert (won.kind, won.from_stage, won.to_stage, won.seconds_in_previous) == ("won", "delivery", "won", 5 * 3600)
    assert (deal.status, deal.stage_code, deal.closed_at) == (DealStatus.WON, "won", hours(5))
    for call, args in [
        (deal.move_to, ("needs", hours(6), ALICE)),
        (deal.win, (hours(6), ALICE)),
        (deal.lose, ("price", hours(6), ALICE)),
        (deal.rate_interest, (3, None, hours(6))),
        (deal.set_lines, ([],)),
        (deal.set_amount, ("1",)),
        (deal.make_offer, (uuid.uuid4(), "ours", "1", "0", None, None, hours(6), ALICE, TODAY)),
    ]:
        broken("deal_closed", call, *args)
    assert deal.stage_code == "won"


def test_reopen_a_won_deal_returns_to_the_stage_it_was_won_from():
    deal = at_stage("payment")
    deal.win(hours(1), ALICE)
    again = deal.reopen(hours(49), BOB, "payment bounced")
    assert (again.kind, again.from_stage, again.to_stage, again.seconds_in_previous) == (
        "reopen",
        "won",
        "payment",
        48 * 3600,
    )
    assert (again.author_id, again.comment) == (BOB, "payment bounced")
    assert (deal.status, deal.stage_code, deal.closed_at, deal.entered_stage_at) == (
        DealStatus.OPEN,
        "payment",
        None,
        hours(49),
    )
    assert deal.move_to("delivery", hours(50), BOB).from_stage == "payment"


def test_lose_records_the_stage_automatically_and_needs_a_reason():
    deal = at_stage("tech_proposal")
    for blank in ("", "   ", None):
        assert broken("reason_required", deal.lose, blank, hours(1), ALICE).field == "reason_id"
    assert deal.status == DealStatus.OPEN
    lost = deal.lose(" too expensive ", hours(1), ALICE, "went to a competitor")
    assert (lost.kind, lost.from_stage, lost.to_stage) == ("lost", "tech_proposal", "lost")
    assert (deal.status, deal.lost_at_stage, deal.lost_reason, deal.stage_code) == (
        DealStatus.LOST,
        "tech_proposal",
        "too expensive",
        "lost",
    )


def test_reopen_a_lost_deal_returns_to_where_it_was_lost_and_clears_the_reason():
    deal = at_stage("commercial_proposal")
    deal.lose("budget frozen", hours(1), ALICE)
    again = deal.reopen(hours(2), ALICE)
    assert (again.from_stage, again.to_stage) == ("lost", "commercial_proposal")
    assert (deal.status, deal.lost_reason, deal.lost_at_stage) == (DealStatus.OPEN, None, None)


def test_reopen_to_a_chosen_stage():
    deal = at_stage("demo")
    deal.lose("no budget", hours(1), ALICE)
    assert deal.reopen(hours(2), ALICE, stage_code="needs").to_stage == "needs"
    deal.lose("no budget", hours(3), ALICE)
    broken("use_win_or_lose", deal.reopen, hours(4), ALICE, stage_code="won")
    broken("unknown_stage", deal.reopen, hours(4), ALICE, stage_code="limbo")
    assert deal.status == DealStatus.LOST


def test_only_a_closed_deal_reopens():
    deal = new_deal()
    assert broken("deal_not_closed", deal.reopen, hours(1), ALICE).field == "status"


# --- offers -------------------------------------------------------------------------------


def test_offer_chain_supersedes_the_standing_offer():
    deal = new_deal(stage_code="commercial_proposal")
    ours = deal.make_offer(uuid.uuid4(), "ours", "100000", "0", date(2026, 3, 31), "list price", hours(1), ALICE, TODAY)
    theirs = deal.make_offer(uuid.uuid4(), "client", "80000", "0", None, "our budget", hours(2), BOB, TODAY)
    again = deal.make_offer(uuid.uuid4(), OfferSide.OURS, "95000", "5", None, None, hours(3), ALICE, TODAY)
    assert [o.status for o in deal.offers] == [OfferStatus.SUPERSEDED, OfferStatus.SUPERSEDED, OfferStatus.OPEN]
    assert [o.id for o in deal.offers] == [ours.id, theirs.id, again.id]
    assert (theirs.side, theirs.amount, theirs.comment) == (OfferSide.CLIENT, Decimal("80000.00"), "our budget")
    broken("offer_not_open", deal.accept_offer, ours.id, TODAY)


def test_accepting_sets_the_amount_from_the_net_price():
    deal = new_deal(stage_code="commercial_proposal", amount="150000")
    offer = deal.make_offer(uuid.uuid4(), "ours", "99999.99", "12.5", None, None, hours(1), ALICE, TODAY)
    assert offer.net("RUB") == Decimal("87499.99")  # 87499.99125
    accepted = deal.accept_offer(offer.id, TODAY)
    assert accepted is offer and offer.status == OfferStatus.ACCEPTED
    assert deal.amount == Decimal("87499.99")


def test_a_later_acceptance_retires_the_earlier_one():
    deal = at_stage("commercial_proposal")
    first = next(o for o in deal.offers if o.status == OfferStatus.ACCEPTED)
    counter = deal.make_offer(uuid.uuid4(), "client", "900", "0", None, None, hours(1), BOB, TODAY)
    assert first.status == OfferStatus.ACCEPTED  # the deal stands until the counter is taken
    deal.accept_offer(counter.id, TODAY)
    assert [o.status for o in deal.offers] == [OfferStatus.SUPERSEDED, OfferStatus.ACCEPTED]
    assert deal.amount == Decimal("900.00")


def test_an_expired_offer_cannot_be_accepted():
    deal = new_deal()
    offer = deal.make_offer(uuid.uuid4(), "ours", "1000", "0", date(2026, 3, 10), None, T0, ALICE, TODAY)
    broken("offer_expired", deal.accept_offer, offer.id, date(2026, 3, 11))
    assert offer.status == OfferStatus.OPEN and deal.amount is None
    deal.accept_offer(offer.id, date(2026, 3, 10))  # the last valid day still counts
    assert offer.status == OfferStatus.ACCEPTED


@pytest.mark.parametrize(
    "args, rule, field",
    [
        (("ours", "-1", "0", None), "negative_amount", "amount"),
        (("ours", "0", "0", None), "zero_amount", "amount"),
        (("ours", 100.0, "0", None), "float_money", "amount"),
        (("ours", "1.001", "0", None), "too_many_decimals", "amount"),
        (("ours", "100", "120", None), "bad_discount", "discount_percent"),
        (("ours", "100", "0", date(2026, 3, 1)), "offer_expired_on_arrival", "valid_until"),
        (("theirs", "100", "0", None), "bad_offer_side", "side"),
    ],
)
def test_bad_offers_are_refused_and_the_chain_is_untouched(args, rule, field):
    deal = new_deal()
    standing = deal.make_offer(uuid.uuid4(), "ours", "100", "0", None, None, T0, ALICE, TODAY)
    side, amount, discount, valid_until = args
    error = broken(rule, deal.make_offer, uuid.uuid4(), side, amount, discount, valid_until, None, T0, ALICE, TODAY)
    assert error.field == field
    assert deal.offers == [standing] and standing.status == OfferStatus.OPEN


def test_offer_acceptance_refusals():
    deal = new_deal()
    offer = deal.make_offer(uuid.uuid4(), "ours", "100", "0", None, None, T0, ALICE, TODAY)
    assert broken("unknown_offer", deal.accept_offer, uuid.uuid4(), TODAY).field == "offer_id"
    broken("duplicate_offer", deal.make_offer, offer.id, "ours", "100", "0", None, None, T0, ALICE, TODAY)
    deal.accept_offer(offer.id, TODAY)
    broken("offer_not_open", deal.accept_offer, offer.id, TODAY)
    deal.lose("price", hours(1), ALICE)
    broken("deal_closed", deal.accept_offer, offer.id, TODAY)


# --- automatic moves ------------------------------------------------------------------------


def test_advance_automatically_goes_forward_only_and_ignores_requirements():
    deal = new_deal(stage_code="commercial_proposal")  # no accepted offer: billing is the proof
    moved = deal.advance_automatically("payment", hours(3), "evt-invoice-paid-1")
    assert moved == Transition(
        "commercial_proposal", "payment", hours(3), 3 * 3600, None, None, TransitionKind.AUTOMATIC, "evt-invoice-paid-1"
    )
    assert deal.advance_automatically("contract", hours(4), "evt-late") is None  # back
    assert deal.advance_automatically("payment", hours(4), "evt-dup") is None  # same
    assert deal.advance_automatically("won", hours(4), "evt-x") is None  # closing is human
    assert deal.advance_automatically("shipping", hours(4), "evt-x") is None  # not here
    assert (deal.stage_code, deal.entered_stage_at) == ("payment", hours(3))
    assert deal.advance_automatically("delivery", hours(5), "evt-shipped").to_stage == "delivery"


def test_advance_automatically_leaves_a_closed_deal_alone():
    deal = new_deal()
    deal.lose("gone", hours(1), ALICE)
    assert deal.advance_automatically("payment", hours(2), "evt") is None
    assert deal.stage_code == "lost"


# --- weighted amounts, stalls, the board ---------------------------------------------------


def test_weighted_amount_uses_the_stage_probability():
    deal = new_deal(amount="333.33", stage_code="tech_proposal")
    assert deal.weighted_amount() == Decimal("133.33")  # 133.332
    deal.move_to("commercial_proposal", hours(1), ALICE)
    assert deal.weighted_amount() == Decimal("166.67")  # 166.665 rounds half up
    assert new_deal().weighted_amount() is None


def test_is_stalled_after_the_stage_threshold():
    needs = PIPELINE.stage("needs")  # 14 days
    assert not is_stalled(needs, T0, T0 + timedelta(days=14) - timedelta(seconds=1))
    assert is_stalled(needs, T0, T0 + timedelta(days=14))
    assert not is_stalled(PIPELINE.won_stage, T0, T0 + timedelta(days=999))
    assert not is_stalled(replace(needs, stalled_after_days=None), T0, T0 + timedelta(days=999))


def test_board_groups_sums_per_currency_weights_and_flags_stalls():
    now = T0 + timedelta(days=20)
    a, b, c, d, e, f = (uuid.uuid4() for _ in range(6))
    deals = [
        BoardDeal(a, "needs", Decimal("1000.00"), "RUB", T0),  # stalled: 20 days of 14
        BoardDeal(b, "needs", Decimal("333.33"), "RUB", now - timedelta(days=1)),
        BoardDeal(c, "needs", Decimal("50.00"), "USD", now),
        BoardDeal(d, "needs", None, "RUB", T0),  # stalled, with no amount
        BoardDeal(e, "contract", Decimal("10000"), "JPY", T0),  # 20 days of 30: fresh
        BoardDeal(f, "won", Decimal("7.00"), "EUR", T0),
    ]
    columns = board(PIPELINE, deals, now)
    assert [col.stage.code for col in columns] == [s.code for s in DEFAULT_PIPELINE_STAGES]
    needs = columns[1]
    assert (needs.count, needs.stalled, set(needs.stalled_ids)) == (4, 2, {a, d})
    assert needs.amounts == {"RUB": Decimal("1333.33"), "USD": Decimal("50.00")}
    assert needs.weighted == {"RUB": Decimal("266.67"), "USD": Decimal("10.00")}  # 200.00 + 66.67
    contract = columns[5]
    assert (contract.count, contract.amounts, contract.weighted, contract.stalled) == (
        1,
        {"JPY": Decimal("10000")},
        {"JPY": Decimal("7000")},
        0,
    )
    won = columns[8]
    assert (won.count, won.amounts, won.weighted, won.stalled) == (
        1,
        {"EUR": Decimal("7.00")},
        {"EUR": Decimal("7.00")},
        0,
    )
    assert (columns[0].count, columns[0].amounts, columns[0].stalled_ids) == (0, {}, ())


def test_board_refuses_deals_in_stages_the_pipeline_lacks():
    stray = BoardDeal(uuid.uuid4(), "negotiation", None, "RUB", T0)
    broken("unknown_stage", board, PIPELINE, [stray], T0)


# --- the pipeline on a past date ----------------------------------------------------------


def test_stages_as_of_rebuilds_the_pipeline_from_kept_transitions():
    one, two, three = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    deal_one = new_deal()
    log = [(one, Transition(None, "interest", T0, None, ALICE, None, "open"))]
    log.append((one, deal_one.move_to("needs", hours(24), ALICE)))
    deal_two, opened = Deal.open(two, PIPELINE, hours(30), BOB, "USD")
    log.append((two, opened))
    log.append((one, deal_one.move_to("demo", hours(48), ALICE)))
    log.append((two, deal_two.lose("no budget", hours(72), BOB)))
    log.append((two, deal_two.reopen(hours(96), BOB)))
    log.append((three, Transition(None, "interest", hours(200), None, ALICE, None, "open")))
    shuffled = log[::-1]  # rows need not come in time order

    assert stages_as_of(shuffled, T0 - timedelta(seconds=1)) == {}
    assert stages_as_of(shuffled, T0) == {one: StageAt(one, "interest", T0)}
    assert stages_as_of(shuffled, hours(36)) == {
        one: StageAt(one, "needs", hours(24)),
        two: StageAt(two, "interest", hours(30)),
    }
    assert stages_as_of(shuffled, hours(80)) == {
        one: StageAt(one, "demo", hours(48)),
        two: StageAt(two, "lost", hours(72)),
    }
    at_100 = stages_as_of(log, hours(100))
    assert at_100[two] == StageAt(two, "interest", hours(96)) and three not in at_100
    assert set(stages_as_of(log, hours(200))) == {one, two, three}


def test_stages_as_of_breaks_ties_by_the_order_given():
    deal = uuid.uuid4()
    first = Transition("needs", "demo", hours(1), 0, ALICE, None, "move")
    second = Transition("demo", "tech_proposal", hours(1), 0, ALICE, None, "move")
    assert stages_as_of([(deal, first), (deal, second)], hours(2))[deal].stage_code == ("tech_proposal")
    assert stages_as_of([(deal, second), (deal, first)], hours(2))[deal].stage_code == "demo"


def _t(frm, to, minute, kind=TransitionKind.MOVE):
    base = datetime(2026, 11, 1, tzinfo=UTC)
    return Transition(frm, to, base + timedelta(minutes=minute), None, None, None, kind)


def test_a_late_fact_is_spliced_into_the_path_where_it_belongs():
    from mercator.deals.domain import splice_late_fact

    pipeline = Pipeline(uuid.uuid4(), "p", DEFAULT_PIPELINE_STAGES)
    kept = [_t(None, "interest", 0), _t("interest", "delivery", 30, TransitionKind.AUTOMATIC)]
    inserted, index, rewritten = splice_late_fact(pipeline, kept, "contract", kept[0].at + timedelta(minutes=10), "e1")
    assert (inserted.from_stage, inserted.to_stage, inserted.seconds_in_previous) == ("interest", "contract", 600)
    assert inserted.kind == TransitionKind.AUTOMATIC and inserted.cause == "e1"
    assert index == 1 and (rewritten.from_stage, rewritten.seconds_in_previous) == ("contract", 1200)


def test_a_late_fact_that_disagrees_with_the_kept_path_is_left_out():
    from mercator.deals.domain import splice_late_fact

    pipeline = Pipeline(uuid.uuid4(), "p", DEFAULT_PIPELINE_STAGES)
    back = [_t(None, "interest", 0), _t("interest", "delivery", 30), _t("delivery", "needs", 40)]
    ten = back[0].at + timedelta(minutes=35)
    assert splice_late_fact(pipeline, back, "payment", ten, "e") is None  # the deal went back after it
    assert splice_late_fact(pipeline, back[:2], "needs", ten - timedelta(minutes=30), "e") is not None
    assert splice_late_fact(pipeline, back[:2], "contract", back[0].at - timedelta(minutes=1), "e") is None
    assert splice_late_fact(pipeline, back[:2], "won", back[0].at + timedelta(minutes=1), "e") is None


# --- history brought in ------------------------------------------------------------


def test_a_fact_brought_in_comes_no_earlier_than_the_deal_s_last_move():
    deal = new_deal()
    deal.move_to("needs", hours(48), ALICE)
    assert deal.check_recorded_time(hours(48)) == hours(48)  # the same moment: the path still reads in order
    error = broken("before_previous_move", deal.check_recorded_time, hours(47), "at")
    assert error.field == "at"
    broken("naive_time", deal.check_recorded_time, hours(49).replace(tzinfo=None))


def test_a_billing_fact_known_by_its_day_is_placed_no_earlier_than_the_move_it_follows():
    # The invoice's day starts at 00:00; the deal reached the contract at 10:00 that day by hand.
    deal = at_stage("contract")
    moved = T0.replace(hour=10)
    deal.entered_stage_at = moved
    step = deal.advance_automatically("payment", T0.replace(hour=0), "event-1")
    assert step.at == moved and step.seconds_in_previous == 0 and deal.stage_code == "payment"


# --- one amount: the deal's amount, its lines and the accepted offer -------------------------


def totals(deal: Deal) -> list[Decimal]:
    return [line.total(deal.currency) for line in deal.lines]


def offered(deal: Deal, amount: str, discount: str = "0", side: str = "ours") -> Decimal:
    offer = deal.make_offer(uuid.uuid4(), side, amount, discount, None, None, hours(1), ALICE, TODAY)
    deal.accept_offer(offer.id, TODAY)
    return deal.amount


def test_a_deal_with_lines_is_worth_what_its_lines_add_up_to():
    deal = new_deal(lines=[DealLine(uuid.uuid4(), "2", "100000", "10"), DealLine(uuid.uuid4(), "1", "20000.50")])
    assert deal.amount == Decimal("200000.50") == sum(totals(deal))
    deal.set_lines([DealLine(uuid.uuid4(), "3", "10.00")])
    assert deal.amount == Decimal("30.00") and totals(deal) == [Decimal("30.00")]


def test_an_accepted_offer_reprices_the_lines_pro_rata_keeping_their_prices():
    lathe, repair = uuid.uuid4(), uuid.uuid4()
    deal = new_deal(
        stage_code="commercial_proposal", lines=[DealLine(lathe, "2", "300000"), DealLine(repair, "1", "600000")]
    )
    assert deal.amount == Decimal("1200000.00")
    assert offered(deal, "1100000") == Decimal("1100000.00")
    assert totals(deal) == [Decimal("550000.00"), Decimal("550000.00")]
    # What was sold and at what list price stays; only each line's share of the agreed price changes.
    assert [(l.product_id, l.quantity, l.unit_price) for l in deal.lines] == [
        (lathe, Decimal(2), Decimal("300000.00")),
        (repair, Decimal(1), Decimal("600000.00")),
    ]


def test_the_rounding_remainder_goes_to_one_line_so_the_lines_add_up_exactly():
    deal = new_deal(stage_code="commercial_proposal", lines=[DealLine(uuid.uuid4(), "1", "100")] * 3)
    assert offered(deal, "100.00") == Decimal("100.00")
    assert sorted(totals(deal)) == [Decimal("33.33"), Decimal("33.33"), Decimal("33.34")]
    uneven = new_deal(
        stage_code="commercial_proposal",
        lines=[
            DealLine(uuid.uuid4(), "7", "13.13", "3"),
            DealLine(uuid.uuid4(), "1", "999.99"),
            DealLine(uuid.uuid4(), "0.333", "1.00"),
        ],
    )
    offered(uneven, "777.77", discount="7.5")
    assert uneven.amount == Decimal("719.44") == sum(totals(uneven))  # 777.77 less 7.5%
    assert all(t > 0 for t in totals(uneven))
    yen = new_deal(currency="JPY", stage_code="commercial_proposal", lines=[DealLine(uuid.uuid4(), "1", "1")] * 3)
    offered(yen, "1000")
    assert sorted(totals(yen)) == [Decimal(333), Decimal(333), Decimal(334)]


def test_the_remainder_never_makes_a_small_line_negative_and_huge_amounts_stay_exact():
    deal = new_deal(
        stage_code="commercial_proposal",
        lines=[DealLine(uuid.uuid4(), "1", "0.01"), DealLine(uuid.uuid4(), "1", "999999999999.99")],
    )
    offered(deal, "999999999999.97")
    assert sum(totals(deal)) == Decimal("999999999999.97") and min(totals(deal)) >= 0


def test_a_deal_without_lines_keeps_an_amount_without_lines():
    deal = new_deal(stage_code="commercial_proposal")
    assert offered(deal, "300000") == Decimal("300000.00") and deal.lines == []
    deal.set_lines([])
    assert deal.amount == Decimal("300000.00")


def test_several_offers_and_counter_offers_reprice_from_the_list_prices_not_from_each_other():
    lines = [DealLine(uuid.uuid4(), "1", "700"), DealLine(uuid.uuid4(), "1", "300")]
    deal = new_deal(stage_code="commercial_proposal", lines=lines)
    offered(deal, "900")
    offered(deal, "850", side="client")
    offered(deal, "1000", discount="20")  # 800: the one that stands
    direct = new_deal(stage_code="commercial_proposal", lines=lines)
    offered(direct, "800")
    assert deal.amount == direct.amount == Decimal("800.00")
    assert totals(deal) == totals(direct) == [Decimal("560.00"), Decimal("240.00")]
    # An offer made but not accepted changes nothing.
    deal.make_offer(uuid.uuid4(), "client", "500", "0", None, None, hours(2), BOB, TODAY)
    assert deal.amount == Decimal("800.00") and sum(totals(deal)) == deal.amount


def test_an_amount_set_on_a_deal_with_lines_reprices_them_and_new_lines_bring_their_own_total():
    deal = new_deal(amount="250000", lines=[DealLine(uuid.uuid4(), "2", "100000", "10")])
    assert deal.amount == Decimal("250000.00") and totals(deal) == [Decimal("250000.00")]
    deal.set_amount("90000")
    assert totals(deal) == [Decimal("90000.00")]
    broken("amount_required", deal.set_amount, None)
    assert deal.amount == Decimal("90000.00")
    deal.set_lines([DealLine(uuid.uuid4(), "1", "5000"), DealLine(uuid.uuid4(), "1", "15000")], amount="10000")
    assert deal.amount == Decimal("10000.00") and totals(deal) == [Decimal("2500.00"), Decimal("7500.00")]
    deal.set_lines([DealLine(uuid.uuid4(), "4", "5000")])
    assert deal.amount == Decimal("20000.00") and totals(deal) == [Decimal("20000.00")]


def test_lines_of_no_price_share_an_agreed_amount_equally():
    deal = new_deal(
        stage_code="commercial_proposal", lines=[DealLine(uuid.uuid4(), "1", "0"), DealLine(uuid.uuid4(), "5", "0")]
    )
    assert deal.amount == Decimal("0.00")
    offered(deal, "100.01")
    assert sorted(totals(deal)) == [Decimal("50.00"), Decimal("50.01")]


# --- what a deal records about itself ----------------------------------------------


def test_a_deal_records_its_facts_in_the_order_they_happened():
    deal, opening = Deal.open(uuid.uuid4(), PIPELINE, T0, ALICE, "RUB", title="CRM", company_id=uuid.uuid4())
    assert deal.events == [Opened(opening)] and deal.version == 1 and deal.opened_at == T0
    deal.events.clear()
    moved = deal.move_to("needs", hours(1), ALICE)
    won = deal.win(hours(2), ALICE)
    assert deal.events == [StageChanged(moved), StageChanged(won), Won(won)]


def test_a_loss_names_its_reason_and_a_reopening_forgets_it():
    deal = at_stage("needs")
    reason_id = uuid.uuid4()
    lost = deal.lose("price", hours(1), ALICE, reason_id=reason_id)
    assert (deal.lost_reason, deal.lost_reason_id) == ("price", reason_id) and deal.events[-1] == Lost(lost)
    deal.reopen(hours(2), ALICE)
    assert deal.lost_reason_id is None


def test_a_closed_deal_sends_no_proposal():
    deal = at_stage("tech_proposal")
    sent = deal.send_proposal(uuid.uuid4(), ["offer.pdf"], [BOB], "email", None, hours(1), ALICE)
    assert deal.events[-1] == ProposalSent(sent) and sent.documents == ("offer.pdf",)
    deal.win(hours(2), ALICE)
    broken("deal_closed", deal.send_proposal, uuid.uuid4(), ["x.pdf"], [BOB], "email", None, hours(3), ALICE)


def test_an_offer_is_accepted_no_earlier_than_it_was_made():
    deal = new_deal()
    offer = deal.make_offer(uuid.uuid4(), "ours", "1000.00", "0", None, None, hours(2), ALICE, TODAY)
    assert broken("before_offer", deal.accept_offer, offer.id, TODAY, hours(1)).field == "at"
    deal.accept_offer(offer.id, TODAY, hours(3))
    assert deal.events[-1] == OfferAccepted(offer, hours(3))


def test_an_edit_records_what_was_sent_and_refuses_an_empty_title():
    deal = new_deal(amount="100.00")
    assert broken("title_required", deal.edit, {"title": ""}).field == "title"
    deal.edit({"title": "CRM", "amount": Decimal("250.00")})
    assert (deal.title, deal.amount) == ("CRM", Decimal("250.00")) and deal.events[-1] == Edited(("amount", "title"))
