"""The platform-neutral form model: construction rules, pages, pagination and validation."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.forms import (
    PAGE_BLOCK_LIMIT,
    PAGE_FRAME_BLOCKS,
    REQUIRED,
    ChoiceField,
    DateField,
    Field,
    Form,
    MultiChoiceField,
    NumberField,
    Option,
    Page,
    Rag,
    RagField,
    RankingField,
    ScaleField,
    SelectField,
    TextField,
    TimeField,
    answered,
    blocks_needed,
    initial_values,
    paginate,
    validate,
    validate_form,
)

NINE = tuple(Option(f"c{i}", f"Condition {i}") for i in range(1, 10))


def options(*values: str) -> tuple[Option, ...]:
    return tuple(Option(v, v.title()) for v in values)


def one_page(*fields: Field) -> Page:
    return Page("Questions", None, fields)


def form(*pages: Page, **kwargs: str) -> Form:
    return Form(callback_id="healthcheck.answer", title="Healthcheck", pages=pages, **kwargs)


def errors_for(field: Field, value: object) -> dict[str, str]:
    return validate(one_page(field), {field.id: value})


# --- construction rules ----------------------------------------------------------------------


@pytest.mark.parametrize("bad_id", ["", "has space", "dot.ted", "é", "x" * 65])
def test_field_ids_are_short_plain_names(bad_id: str) -> None:
    with pytest.raises(ValueError, match="field id"):
        TextField(bad_id, "Comment")


def test_a_field_needs_a_label() -> None:
    with pytest.raises(ValueError, match="needs a label"):
        TextField("comment", "  ")


def test_form_title_and_button_labels_fit_slack() -> None:
    page = one_page(TextField("t", "T"))
    assert Form(callback_id="f", title="x" * 24, pages=(page,)).title == "x" * 24
    for name in ("title", "submit_label", "close_label"):
        for bad in ("x" * 25, " "):
            labels: dict[str, Any] = {"title": "T", name: bad}
            with pytest.raises(ValueError, match=name):
                Form(callback_id="f", pages=(page,), **labels)


def test_form_needs_a_page_a_callback_id_and_short_metadata() -> None:
    page = one_page(TextField("t", "T"))
    with pytest.raises(ValueError, match="at least one page"):
        Form(callback_id="f", title="T", pages=())
    with pytest.raises(ValueError, match="callback_id"):
        Form(callback_id="", title="T", pages=(page,))
    with pytest.raises(ValueError, match="private_metadata"):
        Form(callback_id="f", title="T", pages=(page,), private_metadata="x" * 2001)


def test_field_ids_are_unique_across_pages() -> None:
    with pytest.raises(ValueError, match="used twice"):
        form(one_page(TextField("a", "A")), one_page(ScaleField("a", "A")))
    with pytest.raises(ValueError, match="used twice"):
        one_page(TextField("a", "A"), TextField("a", "B"))


def test_options_are_unique_and_initial_values_are_options() -> None:
    with pytest.raises(ValueError, match="unique"):
        ChoiceField("c", "C", options=options("yes", "yes"))
    with pytest.raises(ValueError, match="at least one option"):
        SelectField("c", "C", options=())
    with pytest.raises(ValueError, match="not an option"):
        ChoiceField("c", "C", options=options("yes", "no"), initial="maybe")
    with pytest.raises(ValueError, match="not an option"):
        SelectField("c", "C", options=options("yes", "no"), initial="maybe")
    with pytest.raises(ValueError, match="distinct options"):
        MultiChoiceField("m", "M", options=options("a", "b"), initial=("a", "a"))
    with pytest.raises(ValueError, match="option value"):
        Option("x" * 151, "Too long a value")


@pytest.mark.parametrize(
    ("low", "high", "labels", "initial", "message"),
    [
        (1, 1, (), None, "2-100 points"),
        (0, 100, (), None, "2-100 points"),
        (1, 4, ("a", "b"), None, "every point"),
        (1, 4, (), 5, "off the scale"),
    ],
)
def test_scale_rules(
    low: int, high: int, labels: tuple[str, ...], initial: int | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ScaleField("s", "S", low=low, high=high, point_labels=labels, initial=initial)


def test_scale_points_and_labels() -> None:
    scale = ScaleField("s", "S", low=0, high=2, point_labels=("none", "some", "all"))
    assert list(scale.points) == [0, 1, 2]
    assert scale.point_label(1) == "some"
    assert ScaleField("s", "S").point_label(3) == ""


@pytest.mark.parametrize(
    ("min_selected", "max_selected"), [(-1, None), (3, 2), (0, 0), (0, 4), (4, None)]
)
def test_selection_bounds_must_make_sense(min_selected: int, max_selected: int | None) -> None:
    with pytest.raises(ValueError, match="min_selected"):
        MultiChoiceField(
            "m",
            "M",
            options=options("a", "b", "c"),
            min_selected=min_selected,
            max_selected=max_selected,
        )


def test_ranking_shape_must_place_every_item() -> None:
    assert RankingField("d9", "Diamond 9", items=NINE).shape == (1, 2, 3, 2, 1)
    with pytest.raises(ValueError, match="places 8 items but there are 9"):
        RankingField("d9", "Diamond 9", items=NINE, shape=(1, 2, 2, 2, 1))
    with pytest.raises(ValueError, match="none empty"):
        RankingField("r", "R", items=NINE[:2], shape=(2, 0))
    with pytest.raises(ValueError, match="two or more tiers"):
        RankingField("r", "R", items=NINE[:2], shape=(2,))
    with pytest.raises(ValueError, match="every tier"):
        RankingField("r", "R", items=NINE[:2], shape=(1, 1), tier_labels=("top",))
    with pytest.raises(ValueError, match="item value"):
        RankingField("r", "R", items=(Option("a b", "A"), Option("c", "C")), shape=(1, 1))


def test_ranking_tier_labels_default_to_the_diamond_ends() -> None:
    diamond = RankingField("d9", "Diamond 9", items=NINE)
    assert [diamond.tier_label(t) for t in diamond.tiers] == [
        "greatest strength",
        "",
        "",
        "",
        "most improvement needed",
    ]
    named = RankingField("r", "R", items=NINE[:2], shape=(1, 1), tier_labels=("best", "worst"))
    assert named.tier_label(2) == "worst"


def test_number_bounds_are_whole_unless_decimals_are_allowed() -> None:
    with pytest.raises(ValueError, match="whole numbers"):
        NumberField("n", "N", max_value=Decimal("2.5"))
    with pytest.raises(ValueError, match="above max_value"):
        NumberField("n", "N", min_value=5, max_value=1)
    with pytest.raises(ValueError, match="outside the bounds"):
        NumberField("n", "N", min_value=1, max_value=5, initial=6)
    with pytest.raises(ValueError, match="finite"):
        NumberField("n", "N", decimal=True, max_value=Decimal("Infinity"))
    assert NumberField("n", "N", decimal=True, max_value=Decimal("2.5")).max_value == Decimal("2.5")


def test_text_initial_fits_max_length() -> None:
    with pytest.raises(ValueError, match="longer than max_length"):
        TextField("t", "T", max_length=3, initial="four")
    with pytest.raises(ValueError, match="at least 1"):
        TextField("t", "T", max_length=0)


def test_a_page_must_fit() -> None:
    fits = PAGE_BLOCK_LIMIT - PAGE_FRAME_BLOCKS
    one_page(*(TextField(f"t{i}", "T") for i in range(fits)))
    with pytest.raises(ValueError, match="paginate"):
        one_page(*(TextField(f"t{i}", "T") for i in range(fits + 1)))
    with pytest.raises(ValueError, match="intro"):
        Page("P", "x" * 2001, ())


def test_models_are_frozen() -> None:
    field = TextField("t", "T")
    with pytest.raises(AttributeError):
        field.label = "changed"  # type: ignore[misc]


# --- form helpers ----------------------------------------------------------------------------


def test_pages_and_field_ids() -> None:
    survey = form(
        Page("One", "Hello", (ScaleField("c1", "C1"), TextField("n1", "N1", required=False))),
        Page("Two", None, (RankingField("d9", "Diamond 9", items=NINE),)),
    )
    assert survey.page_count == 2
    assert survey.page(1).title == "Two"
    assert survey.is_last(1) and not survey.is_last(0)
    assert survey.field_ids() == ("c1", "n1", "d9")
    assert isinstance(survey.field("d9"), RankingField)
    with pytest.raises(KeyError):
        survey.field("nope")
    with pytest.raises(ValueError, match="no page 2"):
        survey.page(2)
    with pytest.raises(ValueError, match="no page -1"):
        survey.page(-1)


def test_initial_values_are_typed_answers() -> None:
    fields = (
        TextField("t", "T", initial="hello"),
        MultiChoiceField("m", "M", options=options("a", "b"), initial=("b",)),
        MultiChoiceField("none", "M", options=options("a", "b")),
        RagField("r", "R", initial=Rag.AMBER),
        DateField("d", "D", initial=date(2026, 9, 2)),
        ScaleField("s", "S"),
    )
    assert initial_values(fields) == {
        "t": "hello",
        "m": ["b"],
        "r": Rag.AMBER,
        "d": date(2026, 9, 2),
    }


def test_rag_is_a_string() -> None:
    amber: str = Rag.AMBER
    assert Rag("amber") is Rag.AMBER and amber == "amber" and Rag.AMBER.label == "Amber"


# --- pagination ------------------------------------------------------------------------------


def test_blocks_needed_counts_a_rankings_heading_and_items() -> None:
    assert blocks_needed(TextField("t", "T")) == 1
    assert blocks_needed(RankingField("d9", "Diamond 9", items=NINE)) == 10


def test_paginate_fills_pages_without_splitting_a_field() -> None:
    fields = [TextField(f"t{i}", "T") for i in range(5)] + [
        RankingField("d9", "Diamond 9", items=NINE)
    ]
    pages = paginate(fields, max_blocks=PAGE_FRAME_BLOCKS + 12, title="Conditions", intro="Hi")
    assert [[f.id for f in p.fields] for p in pages] == [
        ["t0", "t1", "t2", "t3", "t4"],
        ["d9"],
    ]
    assert [p.title for p in pages] == ["Conditions", "Conditions (continued)"]
    assert [p.intro for p in pages] == ["Hi", None]


def test_paginate_with_a_field_limit() -> None:
    fields = [TextField(f"t{i}", "T") for i in range(7)]
    pages = paginate(fields, max_fields=3)
    assert [len(p.fields) for p in pages] == [3, 3, 1]
    assert all(p.title == "" for p in pages)


def test_paginate_refuses_a_field_that_fits_no_page() -> None:
    with pytest.raises(ValueError, match="d9"):
        paginate([RankingField("d9", "Diamond 9", items=NINE)], max_blocks=10)
    with pytest.raises(ValueError, match="room"):
        paginate([TextField("t", "T")], max_blocks=PAGE_FRAME_BLOCKS)


def test_paginate_nothing_is_one_empty_page() -> None:
    assert paginate([], title="Empty") == (Page("Empty", None, ()),)


def test_a_hundred_questions_become_pages_that_fit() -> None:
    fields = [ScaleField(f"q{i}", f"Question {i}") for i in range(250)]
    survey = form(*paginate(fields))
    assert survey.page_count == 3
    assert survey.field_ids() == tuple(f.id for f in fields)


def _ranking(n: int, i: int) -> RankingField:
    items = tuple(Option(f"i{k}", f"Item {k}") for k in range(n))
    return RankingField(f"r{i}", "R", items=items, shape=(1, n - 1))


@given(
    sizes=st.lists(st.integers(min_value=1, max_value=40), max_size=60),
    max_blocks=st.integers(min_value=PAGE_FRAME_BLOCKS + 41, max_value=PAGE_BLOCK_LIMIT),
    max_fields=st.none() | st.integers(min_value=1, max_value=20),
)
def test_paginate_keeps_order_and_every_page_fits(
    sizes: list[int], max_blocks: int, max_fields: int | None
) -> None:
    fields: list[Field] = [
        TextField(f"t{i}", "T") if n == 1 else _ranking(n, i) for i, n in enumerate(sizes)
    ]
    pages = paginate(fields, max_blocks=max_blocks, max_fields=max_fields)
    assert [f for p in pages for f in p.fields] == fields
    for page in pages:
        assert PAGE_FRAME_BLOCKS + sum(blocks_needed(f) for f in page.fields) <= max_blocks
        assert max_fields is None or len(page.fields) <= max_fields
    # Greedy: a page was only closed because the next field would not have fitted.
    for page, following in itertools.pairwise(pages):
        used = sum(blocks_needed(f) for f in page.fields)
        next_cost = blocks_needed(following.fields[0])
        full = max_fields is not None and len(page.fields) == max_fields
        assert full or used + next_cost > max_blocks - PAGE_FRAME_BLOCKS


# --- validation ------------------------------------------------------------------------------


def test_answered() -> None:
    blanks: tuple[object, ...] = (None, "", "  \n", [], {}, ())
    assert not any(answered(v) for v in blanks)
    assert all(answered(v) for v in ("x", 0, [""], {"a": 1}, Decimal(0), date(2026, 1, 1)))


def test_required_fields_need_an_answer_and_optional_ones_do_not() -> None:
    page = one_page(
        TextField("need", "Need"),
        TextField("blank", "Blank"),
        TextField("maybe", "Maybe", required=False),
        MultiChoiceField("many", "Many", options=options("a", "b")),
    )
    assert validate(page, {"blank": "   ", "many": []}) == {
        "need": REQUIRED,
        "blank": REQUIRED,
        "many": REQUIRED,
    }


def test_values_for_other_pages_are_ignored() -> None:
    assert validate(one_page(TextField("t", "T")), {"t": "ok", "elsewhere": 99}) == {}


def test_text_length() -> None:
    field = TextField("t", "T", max_length=5)
    assert errors_for(field, "12345") == {}
    assert errors_for(field, "123456") == {"t": "Please keep this to 5 characters (it has 6)."}
    assert errors_for(field, 42) == {"t": "Enter some text."}


def test_scale_range() -> None:
    field = ScaleField("s", "S", low=1, high=4)
    assert errors_for(field, 4) == {}
    assert errors_for(field, 5) == {"s": "Choose a point from 1 to 4."}
    assert errors_for(field, "3") == {"s": "Choose a point from 1 to 4."}
    assert errors_for(field, True) == {"s": "Choose a point from 1 to 4."}


def test_choices_must_be_options() -> None:
    for field in (
        ChoiceField("c", "C", options=options("yes", "no")),
        SelectField("c", "C", options=options("yes", "no")),
    ):
        assert errors_for(field, "yes") == {}
        assert errors_for(field, "maybe") == {"c": "Choose one of the options."}


def test_selection_counts() -> None:
    field = MultiChoiceField(
        "m", "M", options=options("a", "b", "c", "d"), min_selected=2, max_selected=3
    )
    assert errors_for(field, ["a", "b"]) == {}
    assert errors_for(field, ["a", "b", "c", "d"]) == {"m": "Choose at most 3 (you chose 4)."}
    assert errors_for(field, ["a"]) == {"m": "Choose at least 2 (you chose 1)."}
    assert errors_for(field, ["a", "z"]) == {"m": "Choose only from the options."}
    assert errors_for(field, ["a", "a"]) == {"m": "Choose each option once."}
    assert errors_for(field, "a") == {"m": "Choose from the options."}


def test_rag() -> None:
    field = RagField("r", "R")
    assert errors_for(field, Rag.RED) == {}
    assert errors_for(field, "green") == {}
    assert errors_for(field, "blue") == {"r": "Choose red, amber or green."}


def diamond_answer(*tiers: int) -> dict[str, int]:
    return {item.value: tier for item, tier in zip(NINE, tiers, strict=True)}


def test_ranking_must_match_the_shape() -> None:
    field = RankingField("d9", "Diamond 9", items=NINE)
    assert errors_for(field, diamond_answer(1, 2, 2, 3, 3, 3, 4, 4, 5)) == {}
    assert errors_for(field, diamond_answer(1, 1, 1, 2, 2, 3, 3, 3, 4)) == {
        "d9": "Each tier takes a set number of items: tier 1 has 3, needs 1; "
        "tier 4 has 1, needs 2; tier 5 has 0, needs 1."
    }
    partial = diamond_answer(1, 2, 2, 3, 3, 3, 4, 4, 5)
    del partial["c9"]
    assert errors_for(field, partial) == {
        "d9": "Place every item in a tier; still to place: Condition 9."
    }
    assert errors_for(field, {**partial, "c9": 6}) == {
        "d9": "Choose a tier from 1 to 5 for each item."
    }
    assert errors_for(field, {**partial, "c10": 5}) == {
        "d9": "Choose a tier from 1 to 5 for each item."
    }
    assert errors_for(field, ["c1"]) == {"d9": "Place every item in a tier."}


def test_dates_and_times() -> None:
    assert errors_for(DateField("d", "D"), date(2026, 9, 2)) == {}
    assert errors_for(DateField("d", "D"), datetime(2026, 9, 2, 9, 0)) == {"d": "Enter a date."}
    assert errors_for(DateField("d", "D"), "2026-09-02") == {"d": "Enter a date."}
    assert errors_for(TimeField("t", "T"), time(8, 15)) == {}
    assert errors_for(TimeField("t", "T"), "08:15") == {"t": "Enter a time."}


def test_number_rules() -> None:
    whole = NumberField("n", "N", min_value=0, max_value=25)
    assert errors_for(whole, 25) == {}
    assert errors_for(whole, Decimal("3")) == {}
    assert errors_for(whole, 26) == {"n": "Enter a number from 0 to 25."}
    assert errors_for(whole, Decimal("2.5")) == {"n": "Enter a whole number."}
    assert errors_for(whole, "3") == {"n": "Enter a number."}
    assert errors_for(whole, Decimal("NaN")) == {"n": "Enter a number."}
    days = NumberField("n", "N", decimal=True, min_value=Decimal("0.5"))
    assert errors_for(days, Decimal("2.5")) == {}
    assert errors_for(days, Decimal("0.25")) == {"n": "Enter a number of at least 0.5."}
    assert errors_for(NumberField("n", "N", max_value=3), 4) == {
        "n": "Enter a number of at most 3."
    }


def test_validate_form_covers_every_page() -> None:
    survey = form(one_page(TextField("a", "A")), one_page(ScaleField("b", "B")))
    assert validate_form(survey, {"b": 9}) == {
        "a": REQUIRED,
        "b": "Choose a point from 1 to 4.",
    }
