"""Issue 8's three journeys, clicked and typed in real headless Chromium on the sandbox page:
the bot's real Slack code runs behind it, against the sandbox's own Slack.

Each journey saves a screenshot in the test's output directory (pytest's tmp_path; the path is
printed). Times in the forms are worked out from the sandbox's clock, which each test first
moves to a school-day morning, so the journeys hold on any date.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.types import ChatUser, Platform
from storage.survey_tables import SurveyResponse
from tests.browser import chromium, page
from tests.sandbox.serving import RunningSandbox, running_sandbox
from tests.scenarios.test_scenarios import CONDITIONS, DIAMOND

__all__ = ["chromium", "page"]

# Slow steps (a relay pass, a jump through a night) finish well inside this.
WAIT_MS = 20_000
Value = str | Sequence[str]


@pytest.fixture
def sandbox(tmp_path: Path, sqlite_template: Path) -> Iterator[RunningSandbox]:
    """The bot with its sandbox on a fresh SQLite copy, its clock on a school day at 09:00."""
    db_file = tmp_path / "sandbox.db"
    db_file.write_bytes(sqlite_template.read_bytes())
    with running_sandbox(f"sqlite:///{db_file}") as running:
        core = running.core
        workspace = core.sandbox.workspace()
        morning = core.sandbox.next_school_morning(workspace, running.clock.now())
        running.clock.move_to(morning + timedelta(hours=1))
        yield running


def person(sandbox: RunningSandbox, *, name: str | None = None, role: str | None = None) -> str:
    """The sandbox user id of someone in the directory, by name or by a role they hold."""
    people = sandbox.state("")["people"]
    for p in people:
        if (name is not None and p["name"] == name) or (
            role is not None and any(r.startswith(role) for r in p["roles"])
        ):
            return str(p["user_id"])
    raise AssertionError(f"nobody called {name!r} or holding {role!r}")


def name_of(sandbox: RunningSandbox, user_id: str) -> str:
    return str(next(p["name"] for p in sandbox.state("")["people"] if p["user_id"] == user_id))


def be(page: Any, user_id: str) -> None:
    """Pick a person in the picker, as a visitor would, and open their chat with the bot."""
    page.get_by_test_id("person-picker").select_option(user_id)
    dm = page.locator(f'[data-testid=conversation][data-id="D0{user_id}"]')
    dm.click()
    expect_visible(page.get_by_test_id("composer"))


def say(page: Any, text: str) -> None:
    composer = page.get_by_test_id("composer")
    composer.fill(text)
    composer.press("Enter")


def expect_visible(locator: Any, timeout: int = WAIT_MS) -> Any:
    locator.first.wait_for(state="visible", timeout=timeout)
    return locator.first


def message(page: Any, *words: str) -> Any:
    """The latest message in the open conversation that says all of `words` (waiting for it)."""
    found = page.get_by_test_id("messages").locator("[data-testid=message]")
    for word in words:
        found = found.filter(has_text=word)
    expect_visible(found)
    return found.last


def modal(page: Any) -> Any:
    return expect_visible(page.get_by_test_id("modal"))


def fill(page: Any, answers: Mapping[str, Value]) -> None:
    """Answer the open modal's inputs by block id, whatever control each one is."""
    dialog = modal(page)
    for block_id, value in answers.items():
        block = dialog.locator(f'[data-block-type=input][data-block-id="{block_id}"]')
        expect_visible(block)
        values = [value] if isinstance(value, str) else list(value)
        if block.locator("select").count():
            block.locator("select").select_option(values)
        elif block.locator("input[type=radio]").count():
            block.locator(f'input[type=radio][value="{values[0]}"]').check()
        elif block.locator("input[type=checkbox]").count():
            for box in block.locator("input[type=checkbox]").all():
                box.set_checked(box.get_attribute("value") in values)
        else:
            block.locator("input, textarea").first.fill(values[0])


def submit(page: Any) -> None:
    modal(page).get_by_test_id("modal-submit").click()


def field_error(page: Any, block_id: str) -> str:
    block = modal(page).locator(f'[data-block-type=input][data-block-id="{block_id}"]')
    return str(expect_visible(block.locator(".bk-input-error")).inner_text())


def close_modal(page: Any) -> None:
    modal(page).get_by_test_id("modal-close").click()
    page.get_by_test_id("modal").wait_for(state="detached", timeout=WAIT_MS)


def school_days_after(sandbox: RunningSandbox, n: int) -> list[date]:
    calendar = sandbox.core.calendar.for_la_code(881)
    day = calendar.local(sandbox.clock.now()).date()
    days: list[date] = []
    while len(days) < n:
        day = calendar.next_school_day(day, inclusive=False)
        days.append(day)
    return days


def screenshot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    print(f"screenshot: {path}")
    return path


# --- 1. a head asks for support; an alliance lead claims it ----------------------------------


def test_a_head_asks_for_support_and_an_alliance_lead_claims_it(
    page: Any, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    head = person(sandbox, name="Tess Dapplegate")
    page.goto(sandbox.page_url)
    be(page, head)
    say(page, "/slis support")
    start, end = school_days_after(sandbox, 10)[2], school_days_after(sandbox, 10)[9]
    answers: dict[str, Value] = {
        "category": "collaborative_review",
        "needed": "An outside eye on our reading curriculum review before the spring term.",
        "why_now": "Two new subject leads started in September.",
        "urgency": "high",
        "window_from": end.isoformat(),
        "window_to": start.isoformat(),
        "days": "2",
        "consent": "yes",
    }
    fill(page, answers)
    submit(page)
    assert field_error(page, "window_to") == "The window ends before it starts."

    fill(page, {"window_from": start.isoformat(), "window_to": end.isoformat()})
    submit(page)
    done = expect_visible(modal(page).get_by_text(re.compile(r"Your request SR-\d{4}-\d{4}")))
    asked = str(modal(page).inner_text())
    reference = re.search(r"SR-\d{4}-\d{4}", str(done.inner_text()))
    assert reference is not None
    alliance = re.search(r"([A-Z][a-z]+ Teaching School Alliance)", asked)
    assert alliance is not None, asked
    close_modal(page)

    lead = person(sandbox, role=f"Teaching School Alliance lead, {alliance.group(1)}")
    be(page, lead)
    offer = message(page, f"Can {alliance.group(1)} help?", "reading curriculum")
    ts = offer.get_attribute("data-ts")
    offer.get_by_role("button", name="Claim", exact=True).click()
    claimed = page.locator(f'[data-testid=message][data-ts="{ts}"]')
    expect_visible(claimed.filter(has_text=f"You have claimed {reference.group(0)}"))
    assert claimed.get_by_role("button", name="Claim", exact=True).count() == 0
    screenshot(page, tmp_path, "support-claimed")

    be(page, head)
    told = message(page, "has claimed your request")
    assert f"{alliance.group(1)} ({name_of(sandbox, lead)})" in told.inner_text()
    screenshot(page, tmp_path, "support-head-told")


# --- 2. a board member launches a healthcheck; a head answers it after a clock jump ---------


def test_a_board_member_launches_a_healthcheck_and_a_head_answers_after_a_clock_jump(
    page: Any, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    board = person(sandbox, name="Ada Applethwaite")  # head, chair of West, board member
    page.goto(sandbox.page_url)
    be(page, board)
    say(page, "/slis healthcheck launch")
    dialog = modal(page)
    west = dialog.locator('[data-block-id="scope"] option', has_text="West").first
    fill(
        page,
        {
            "template": "partnership_healthcheck",
            "audience": "head",
            "scope": str(west.get_attribute("value")),
            "privacy": "named",
        },
    )
    submit(page)
    expect_visible(modal(page).get_by_text("Healthcheck round launched"))
    close_modal(page)

    head = person(sandbox, name="Tess Dapplegate")  # a head in the West quadrant
    be(page, head)
    clock = page.get_by_test_id("clock")
    before = clock.inner_text()
    page.get_by_test_id("jump-morning").click()
    expect_visible(page.get_by_test_id("clock").filter(has_text="08:00"))
    assert clock.inner_text() != before
    page.get_by_test_id("jump-hour").click()
    expect_visible(page.get_by_test_id("clock").filter(has_text="09:00"))

    prompt = message(page, "Partnership healthcheck", "Press Start to answer")
    prompt.get_by_role("button", name="Start").click()
    pages = 0
    while True:
        dialog = modal(page)
        if dialog.get_by_text("Thank you: your answers are in").count():
            break
        pages += 1
        assert pages <= 4, "more pages than the healthcheck has"
        shown = {
            str(b.get_attribute("data-block-id"))
            for b in dialog.locator("[data-block-type=input]").all()
        }
        answers: dict[str, Value] = {c: "3" for c in CONDITIONS if c in shown}
        if "diamond_nine" in shown:
            answers = {
                ("diamond_nine" if i == 0 else f"diamond_nine.{c}"): str(DIAMOND[c])
                for i, c in enumerate(CONDITIONS)
            }
        fill(page, answers)
        # Read before submitting: a fast answer would otherwise be read as the old view.
        shown_hash = dialog.get_attribute("data-view-hash")
        submit(page)
        page.wait_for_function(
            "n => !document.querySelector('[data-testid=modal]')"
            " || document.querySelector('[data-testid=modal]').dataset.viewHash !== n",
            arg=shown_hash,
            timeout=WAIT_MS,
        )
    assert pages == 4
    screenshot(page, tmp_path, "healthcheck-answered")
    actor = sandbox.core.identity.actor_for(ChatUser(Platform.SLACK, "T0SAMPLE1", head))
    with sandbox.core.db.session() as s:
        [response] = s.exec(select(SurveyResponse)).all()
    assert response.respondent_person_id == actor.person_id
    assert response.submitted_at is not None


# --- 3. a chair proposes a meeting; an invitee votes -----------------------------------------


def test_a_chair_creates_a_meeting_poll_and_an_invitee_votes(
    page: Any, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    chair = person(sandbox, name="Ada Applethwaite")  # chair of the West quadrant
    page.goto(sandbox.page_url)
    be(page, chair)
    say(page, "/slis meeting new")
    days = school_days_after(sandbox, 6)
    fill(
        page,
        {
            "title": "West: spring term priorities",
            "purpose": "Locality improvement needs for the spring term.",
            "mode": "online",
            "slot_1_date": days[3].isoformat(),
            "slot_1_time": "16:00",
            "slot_2_date": days[4].isoformat(),
            "slot_2_time": "16:00",
            "slot_3_date": days[5].isoformat(),
            "slot_3_time": "09:00",
            "deadline_date": days[1].isoformat(),
            "deadline_time": "12:00",
        },
    )
    submit(page)
    invitees = modal(page).locator('[data-block-id="invitees"]')
    expect_visible(invitees)
    chosen = invitees.locator("option:checked, input:checked").all()
    names = [str(o.inner_text() or o.get_attribute("aria-label") or "") for o in chosen]
    ids = [str(o.get_attribute("value")) for o in chosen]
    assert ids, "the invitees are chosen for the chair to start with"
    submit(page)
    expect_visible(modal(page).get_by_text(re.compile(r"M-\d{4}-\d{4}")))
    close_modal(page)

    people = {p["name"]: p["user_id"] for p in sandbox.state("")["people"]}
    invited = [people[n] for n in (n.split(" — ")[0].strip() for n in names) if n in people]
    invitee = next(user for user in invited if user != chair)  # someone else votes
    be(page, invitee)
    poll = message(page, "West: spring term priorities", "When can you come?")
    ts = poll.get_attribute("data-ts")
    poll.get_by_role("button", name="Yes", exact=True).first.click()
    redrawn = page.locator(f'[data-testid=message][data-ts="{ts}"]')
    expect_visible(redrawn.get_by_role("button", name="✓ Yes"))
    assert redrawn.get_by_role("button", name="✓ Yes").count() == 1
    screenshot(page, tmp_path, "meeting-voted")
