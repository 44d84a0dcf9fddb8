"""Fuzzing `/slis <text>`, the bot's buttons and its forms through the core, as every platform
reaches them: whatever is typed or sent, the answer is never the fault reply; an error is
private, says what to do, and leaves every table as it was."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.form_flow import Finished, FormStep, PageErrors, ShowPage
from bot.forms import (
    ChoiceField,
    DateField,
    Field,
    Form,
    MultiChoiceField,
    NumberField,
    RagField,
    RankingField,
    ScaleField,
    SelectField,
    TextField,
    TimeField,
)
from bot.replies.reminders import CANCEL_ACTION
from bot.replies.support import ACTION_PREFIX as SUPPORT_PREFIX
from bot.replies.support import LABELS
from bot.services.healthcheck.prompts import START_ACTION
from bot.services.meetings.common import ACTION_PREFIX as MEETING_PREFIX
from bot.types import Platform, Reply
from storage.engine import Database
from tests.fuzz.world import (
    FUZZ,
    MEETING_REF,
    ROLES,
    FuzzWorld,
    WriteLog,
    actors_of,
    command_texts,
    is_fault,
    reply_text,
    seed,
    texts,
)
from tests.scenarios.world import build_world

ACTORS = (*ROLES, "stranger")


@pytest.fixture
async def fuzz(database_url: str, db: Database) -> FuzzWorld:
    return await seed(build_world(database_url, db))


def check_refusal(reply: Reply) -> None:
    """An error answer: never the fault reply, only to the asker, and it says what to do."""
    assert not is_fault(reply), reply.text
    assert reply.private, reply.text
    said = reply_text(reply)
    assert "/slis" in said or "Ask your LA administrator" in said or len(reply.blocks) > 1, said


@given(data=st.data())
@FUZZ
async def test_any_command_text_gets_an_answer_or_a_clear_refusal(
    fuzz: FuzzWorld, writes: WriteLog, data: st.DataObject
) -> None:
    actor = fuzz.actors[data.draw(st.sampled_from(ACTORS), label="actor")]
    text = data.draw(command_texts, label="text")
    core = fuzz.core
    writes.reset()
    if core.router.opens_form(text):
        step = await core.open_form(actor, text)
        reply = step if isinstance(step, Reply) else None
    else:
        reply = await core.command(actor, text)
    if reply is None or not reply.is_error:
        assert reply is None or not is_fault(reply), reply.text
        return
    check_refusal(reply)
    assert writes.written() == set(), (text, reply.text)


ACTION_IDS = st.one_of(
    st.sampled_from(
        (
            START_ACTION,
            CANCEL_ACTION,
            *(SUPPORT_PREFIX + a for a in (*LABELS, "ask", "suggest", "suggest:x")),
            *(
                MEETING_PREFIX + a
                for a in ("vote", "close", "book", "rsvp", "change", "cancel", "agenda")
            ),
            *(MEETING_PREFIX + a for a in ("agenda_order", "minutes", "done", "vote.1", "")),
        )
    ),
    st.sampled_from((SUPPORT_PREFIX, MEETING_PREFIX, "slis.")).flatmap(
        lambda p: texts.map(lambda t: p + t)
    ),
    texts,
)
BUTTON_VALUES = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(("1", "1:2", "1|x", "0", "", " 1 ", "1:yes", "1:2:3", MEETING_REF, "१")),
    st.tuples(st.integers(0, 5), st.sampled_from((":", "|", ".", ",")), texts).map(
        lambda p: f"{p[0]}{p[1]}{p[2]}"
    ),
    texts,
)


@given(data=st.data())
@FUZZ
async def test_any_button_gets_an_answer_or_a_clear_refusal(
    fuzz: FuzzWorld, writes: WriteLog, data: st.DataObject
) -> None:
    actor = fuzz.actors[data.draw(st.sampled_from(ACTORS), label="actor")]
    action = data.draw(ACTION_IDS, label="action_id")
    value = data.draw(BUTTON_VALUES, label="value")
    writes.reset()
    pressed = await fuzz.core.button(actor, action, value)
    if pressed is None or not isinstance(pressed.step, Reply):
        return
    reply = pressed.step
    assert not is_fault(reply), (action, value, reply.text)
    if reply.is_error:
        assert reply.private, reply.text
        assert writes.written() == set(), (action, value, reply.text)


# --- forms ----------------------------------------------------------------------------------

# How each form is reached: who opens it, and the command or button that does.
OPENERS: tuple[tuple[str, str, str], ...] = (
    ("head", "command", "support"),
    ("chair", "command", "meeting new"),
    ("officer", "command", "healthcheck launch"),
    ("head", "start", ""),
    ("lead", "button", SUPPORT_PREFIX + "decline"),
    ("lead", "button", SUPPORT_PREFIX + "question"),
    ("head", "button", SUPPORT_PREFIX + "withdraw"),
    ("chair", "command", f"meeting change {MEETING_REF}"),
    ("chair", "command", f"meeting cancel {MEETING_REF}"),
    ("chair", "command", f"meeting order {MEETING_REF}"),
    ("chair", "command", f"meeting minutes {MEETING_REF}"),
    ("head", "button", MEETING_PREFIX + "agenda"),
)

GARBAGE: st.SearchStrategy[Any] = st.one_of(
    texts,
    st.integers(-(2**64), 2**64),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.dates(),
    st.times(),
    st.datetimes(),
    st.lists(texts, max_size=4),
    st.dictionaries(texts, st.integers(-3, 12), max_size=4),
    st.booleans(),
    st.none(),
)
NEAR_NOW = st.dates(date(2026, 9, 1), date(2027, 9, 1))


def likely(field: Field) -> st.SearchStrategy[Any]:
    """Answers of the field's own kind: in range or just out of it."""
    match field:
        case TextField():
            return st.one_of(texts, st.integers(1990, 3100).map(lambda n: "x" * n))
        case ScaleField():
            return st.integers(field.low - 2, field.high + 2)
        case ChoiceField() | SelectField():
            return st.sampled_from([o.value for o in field.options])
        case MultiChoiceField():
            return st.lists(st.sampled_from([o.value for o in field.options]), max_size=6)
        case RagField():
            return st.sampled_from(("red", "amber", "green", "blue"))
        case RankingField():
            items = [i.value for i in field.items]
            return st.dictionaries(st.sampled_from(items), st.integers(0, len(field.shape) + 1))
        case DateField():
            return NEAR_NOW
        case TimeField():
            return st.times()
        case NumberField():
            return st.one_of(st.integers(-5, 10**9), st.decimals(-5, 10**6, places=2).map(Decimal))
    raise AssertionError(field)


def answers(field: Field) -> st.SearchStrategy[Any]:
    return st.one_of(likely(field), likely(field), GARBAGE)


async def open_form(fuzz: FuzzWorld, who: str, how: str, what: str) -> ShowPage | Reply:
    actor = fuzz.actors[who]
    core = fuzz.core
    if how == "command":
        return await core.open_form(actor, what)
    if how == "start":
        return await core.start_answer(actor, fuzz.invitation_id)
    request_id = "1" if what.startswith(SUPPORT_PREFIX) else MEETING_REF
    pressed = await core.button(actor, what, request_id)
    assert pressed is not None
    return pressed.step


def check_step(step: FormStep, writes: WriteLog) -> None:
    if isinstance(step, Finished):
        assert not is_fault(step.reply), step.reply.text
    refused = isinstance(step, PageErrors) or (isinstance(step, Finished) and step.reply.is_error)
    if refused:
        assert writes.written() == set(), step


@pytest.fixture
async def forms(fuzz: FuzzWorld) -> dict[str, tuple[str, Form]]:
    """Every form the world offers, opened once before the examples (so what is drawn for
    each does not depend on what earlier examples changed): {label: (who, form)}."""
    opened: dict[str, tuple[str, Form]] = {}
    for who, how, what in OPENERS:
        step = await open_form(fuzz, who, how, what)
        assert not (isinstance(step, Reply) and is_fault(step)), step.text
        if isinstance(step, ShowPage):
            opened[f"{who}: {what or how}"] = (who, step.form)
    return opened


@given(data=st.data())
@FUZZ
async def test_any_form_page_gets_a_field_problem_or_a_step(
    fuzz: FuzzWorld, forms: dict[str, tuple[str, Form]], writes: WriteLog, data: st.DataObject
) -> None:
    who, form = forms[data.draw(st.sampled_from(sorted(forms)), label="form")]
    page = data.draw(st.integers(0, form.page_count - 1), label="page")
    values: dict[str, Any] = {}
    for field in form.page(page).fields:
        if data.draw(st.booleans(), label=f"answer {field.id}"):
            values[field.id] = data.draw(answers(field), label=field.id)
    back = data.draw(st.booleans(), label="back")
    writes.reset()
    step = await fuzz.core.form_submit(
        fuzz.actors[who], form.callback_id, form.private_metadata, page, values, back=back
    )
    check_step(step, writes)


@given(data=st.data())
@FUZZ
async def test_a_form_sent_with_any_metadata_is_refused_cleanly(
    fuzz: FuzzWorld, writes: WriteLog, data: st.DataObject
) -> None:
    """What travels with a form comes back from the client: a changed one is refused."""
    who = data.draw(st.sampled_from(ACTORS), label="actor")
    callback_id = data.draw(st.sampled_from(sorted(fuzz.core.forms)), label="callback_id")
    metadata = data.draw(
        st.one_of(
            texts,
            st.sampled_from(('{"q":1}', '{"q":"x"}', "[]", "null", "1:decline", "1:x:y", "{")),
            st.integers(-(2**70), 2**70).map(str),
        ),
        label="metadata",
    )
    actor = fuzz.actors[who]
    writes.reset()
    form = await fuzz.core.form_of(actor, callback_id, metadata)
    if isinstance(form, Reply):
        assert not is_fault(form), (callback_id, metadata, form.text)
        assert writes.written() == set()
        return
    step = await fuzz.core.form_submit(actor, callback_id, metadata, 0, {})
    check_step(step, writes)


def test_the_datetime_garbage_is_not_a_date() -> None:
    """The fuzzers send datetimes where dates are asked for: the core tells them apart."""
    assert isinstance(datetime(2026, 1, 1), date) and not isinstance(time(1), date)


async def test_the_write_log_sees_committed_writes_only(
    database_url: str, db: Database, writes: WriteLog
) -> None:
    """The check every fuzzer here relies on, on both databases."""
    world = build_world(database_url, db)
    head = actors_of(world, world.workspace(Platform.SLACK))["head"]
    writes.reset()
    refused = await world.core.command(head, "remind cancel 999")
    assert refused.is_error and writes.written() == set()
    done = await world.core.command(head, "remind me tomorrow at 9am ring Colne")
    assert not done.is_error and "reminder" in writes.written(), done.text
