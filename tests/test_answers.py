"""The @name[value] format: round trip, the official DABench semantics (strict), lenient reading."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbqa_builder.answers import (
    LENIENT,
    MODES,
    STRICT,
    Rounding,
    roundings_in_format,
    parse_answers,
    render_answers,
    score_response,
    values_match,
)

# ---------------------------------------------------------------------------------------------
# Round trip

names = st.from_regex(re.compile(r"\w+"), fullmatch=True)
values = st.text(st.characters(blacklist_characters="]\n\r", blacklist_categories=("Cs",))).filter(
    lambda v: not re.search(r"@\w+\[", v)
)
pairs = st.lists(st.tuples(names, values), max_size=6)


@pytest.mark.parametrize("mode", MODES)
@given(pairs=pairs)
def test_render_then_parse_gives_the_same_pairs(mode, pairs):
    assert parse_answers(render_answers(pairs), mode) == pairs


@pytest.mark.parametrize("mode", MODES)
@given(value=values)
def test_every_renderable_value_matches_itself(mode, value):
    assert values_match(value, value, mode)


@pytest.mark.parametrize(
    "name, value",
    [
        ("x", "a]b"),  # the official scorer would read "a"
        ("x", "line\nbreak"),  # the official regex does not cross lines
        ("x", "see @y[1"),  # would start a second item
        ("bad-name", "1"),
        ("", "1"),
        ("x", 3.5),  # values are strings
    ],
)
def test_render_refuses_what_would_read_back_differently(name, value):
    with pytest.raises(ValueError):
        render_answers([(name, value)])


def test_render_joins_items_with_spaces():
    assert render_answers([("mean", "3.5"), ("n", "10")]) == "@mean[3.5] @n[10]"


# ---------------------------------------------------------------------------------------------
# Strict: the official InfiAgent-DABench semantics, case by case (written from the description:
# regex @(\w+)\[(.*?)\], later duplicate wins, equal strings or floats within 1e-6).

STRICT_CASES = [
    # value containing "]": the regex stops at the first "]"
    ("@x[a]b]", {"x": "a]b"}, {"x": False}),
    ("@x[a]b]", {"x": "a"}, {"x": True}),
    ("@x[[1, 2]]", {"x": "[1, 2]"}, {"x": False}),
    # duplicate names: the later one wins
    ("@x[1] @x[2]", {"x": "2"}, {"x": True}),
    ("@x[1] @x[2]", {"x": "1"}, {"x": False}),
    # missing names are wrong, extra names are ignored
    ("@x[1]", {"x": "1", "y": "2"}, {"x": True, "y": False}),
    ("@x[1] @z[9]", {"x": "1"}, {"x": True}),
    # nothing to read
    ("", {"x": "1"}, {"x": False}),
    ("the answer is 1", {"x": "1"}, {"x": False}),
    ("@x[1\n]", {"x": "1\n"}, {"x": False}),
    # numbers of different precision: float() and 1e-6
    ("@x[3.50]", {"x": "3.5"}, {"x": True}),
    ("@x[3.5000001]", {"x": "3.5"}, {"x": True}),
    ("@x[3.500002]", {"x": "3.5"}, {"x": False}),
    ("@x[3.5004]", {"x": "3.5"}, {"x": False}),
    ("@x[1e-7]", {"x": "0"}, {"x": True}),
    ("@x[ 3.5 ]", {"x": "3.5"}, {"x": True}),  # float() ignores the spaces
    ("@x[np.float64(3.5)]", {"x": "3.5"}, {"x": False}),
    ("@x[nan]", {"x": "nan"}, {"x": True}),  # equal strings
    ("@x[NaN]", {"x": "nan"}, {"x": False}),  # nan is never within 1e-6 of nan
    # strings: no normalisation at all
    ("@x[Male]", {"x": "male"}, {"x": False}),
    ("@x[True]", {"x": "true"}, {"x": False}),
    ("@x[ abc]", {"x": "abc"}, {"x": False}),
    ("@x['abc']", {"x": "abc"}, {"x": False}),
    # empty values and a lone "[" (both occur in the DABench dev labels)
    ("@outliers[]", {"outliers": ""}, {"outliers": True}),
    ("@outliers[none]", {"outliers": ""}, {"outliers": False}),
    ("@outlier_list[[]", {"outlier_list": "["}, {"outlier_list": True}),
    # names are case-sensitive word characters
    ("@X[1]", {"x": "1"}, {"x": False}),
    ("@x_1[1]", {"x_1": "1"}, {"x_1": True}),
    ("Formatted answer: @mean[34.65], @median[28.0].", {"mean": "34.65", "median": "28"},
     {"mean": True, "median": True}),
]


@pytest.mark.parametrize("response, label, expected", STRICT_CASES)
def test_strict_mode_follows_the_official_scorer(response, label, expected):
    assert score_response(response, label, STRICT) == expected


def test_a_later_duplicate_in_the_label_wins_as_in_the_official_scorer():
    assert score_response("@x[2]", [("x", "1"), ("x", "2")], STRICT) == {"x": True}


# ---------------------------------------------------------------------------------------------
# Lenient: JUPITER's checker plus printed forms a scorer should not punish.

LENIENT_MATCHES = [
    ("np.float64(3.5)", "3.5"),
    ("np.int64(2)", "2"),
    ("numpy.float32(0.25)", "0.25"),
    ("np.str_('a')", "a"),
    ("np.True_", "True"),
    ("3.50", "3.5"),
    ("true", "True"),
    ("FALSE", "False"),
    ("'3.5'", "3.5"),
    (' "abc" ', "abc"),
    ("`abc`", "abc"),
    ("3.5004", "3.5"),  # within 1e-3 absolute
    ("1000.9", "1000"),  # within 0.1 % relative
    ("[3, 1, 2]", "[1, 2, 3]"),  # any order
    ("(1, 2)", "[2, 1]"),
    ("1, 2", "[2, 1]"),
    ("[np.float64(1.0), np.float64(2.0)]", "[2, 1]"),
    ("[1.0005, 1.001]", "[1.001, 1.0]"),  # needs a matching, not greedy pairing
    ("{'b': 2.0001, 'a': 1}", '{"a": 1, "b": 2}'),
    ("{'a': [2, 1]}", "{'a': [1, 2]}"),
    ("nan", "nan"),
    ("inf", "1e999"),
]

LENIENT_MISMATCHES = [
    ("3.51", "3.5"),
    ("1002", "1000"),
    ("Male", "male"),  # strings stay case-sensitive
    ("1", "True"),  # booleans are not numbers
    ("[1, 2]", "[1, 2, 2]"),
    ("[1, 1]", "[1, 2]"),
    ("{'a': 1}", "{'a': 1, 'b': 2}"),
    ("{'a': 1}", "{'a': 2}"),
    ("abc", "[abc]"),
    ("1e999", "1"),  # an infinity is not within 0.1 % of everything
]


@pytest.mark.parametrize("response_value, label_value", LENIENT_MATCHES)
def test_lenient_mode_accepts(response_value, label_value):
    assert values_match(response_value, label_value, LENIENT)


@pytest.mark.parametrize("response_value, label_value", LENIENT_MISMATCHES)
def test_lenient_mode_rejects(response_value, label_value):
    assert not values_match(response_value, label_value, LENIENT)


def test_lenient_values_run_to_the_last_bracket_before_the_next_item():
    response = "Formatted answer: @cols[['a', 'b']] @top[{'x': [1, 2]}]\n@n[3]"
    assert parse_answers(response, LENIENT) == [("cols", "['a', 'b']"), ("top", "{'x': [1, 2]}"), ("n", "3")]
    label = [("cols", "['b', 'a']"), ("top", "{'x': [2, 1]}"), ("n", "3.0")]
    assert score_response(response, label, LENIENT) == {"cols": True, "top": True, "n": True}


def test_lenient_values_may_contain_brackets_and_span_lines():
    assert parse_answers("@x[a]b] @y[1\n2]", LENIENT) == [("x", "a]b"), ("y", "1\n2")]


def test_lenient_item_without_closing_bracket_is_not_an_item():
    assert parse_answers("@x[1 @y[2]", LENIENT) == [("y", "2")]


def test_lenient_keeps_the_later_duplicate_and_ignores_extra_names():
    assert score_response("@x[1] @x[2] @z[0]", {"x": "2.0"}, LENIENT) == {"x": True}


@pytest.mark.parametrize("text", ["[" * 5000, "1" * 5000, "9" * 400 + "e999999", "{'a': [}", "__import__('os')"])
def test_lenient_reading_of_hostile_values_never_raises(text):
    assert values_match(text, "1", LENIENT) is False


def test_unknown_mode_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown answer mode"):
        parse_answers("@x[1]", "fuzzy")


# Any text an agent might write is read without an exception, in both modes.
response_text = st.text(st.sampled_from(list("@x[]()'\"`,.:{}0123456789eE-+ \nnpfloat64_True")), max_size=60)


@pytest.mark.parametrize("mode", MODES)
@given(response=response_text, label=response_text)
def test_any_response_is_scored_without_raising(mode, response, label):
    result = score_response(response, [("x", label)], mode)
    assert set(result) == {"x"} and isinstance(result["x"], bool)


# ---------------------------------------------------------------------------------------------
# Rounding as a format states it


@pytest.mark.parametrize(
    "fmt, names, expected",
    [
        ("@mean_price[value] where value is a number rounded to 2 decimal places.", ["mean_price"], {"mean_price": ("decimals", 2)}),
        ("@n[value] where value is an integer.", ["n"], {"n": ("decimals", 0)}),
        ("@x[value], round to three decimals", ["x"], {"x": ("decimals", 3)}),
        ("@x[value] with 3 significant digits", ["x"], {"x": ("significant", 3)}),
        ("@a[x] @b[y] where a is rounded to two decimals and b is an integer", ["a", "b"],
         {"a": ("decimals", 2), "b": ("decimals", 0)}),
        ("@a[x] (two decimals), @b[y] (an integer)", ["a", "b"], {"a": ("decimals", 2), "b": ("decimals", 0)}),
        ("@x[value]", ["x"], {"x": ("exact", 0)}),
        ("@a[x] @b[y] @c[z], rounded to 2 decimals except c which is an integer", ["a", "b", "c"],
         {"a": ("exact", 0), "b": ("exact", 0), "c": ("exact", 0)}),  # cannot be placed: no rounding assumed
    ],
)
def test_the_rounding_a_format_states_is_read_back(fmt, names, expected):
    found = roundings_in_format(fmt, names)
    assert {name: (r.kind, r.digits) for name, r in found.items()} == expected


@pytest.mark.parametrize("rounding", [Rounding("decimals", 0), Rounding("decimals", 1), Rounding("decimals", 2),
                                      Rounding("significant", 3)])
def test_the_phrase_a_heuristic_format_writes_reads_back_as_the_same_rounding(rounding):
    assert roundings_in_format(f"@x[value] where value is {rounding.describe()}.", ["x"]) == {"x": rounding}
