"""SPEC §4: the expression language, compiled once into closures."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from unirouter.errors import ExpressionError
from unirouter.expressions import Expression, Scope, compile_expression


@dataclass
class View:
    """A Fields object like the engine's views: own fields first, then ``attributes``."""

    own: dict[str, object] = field(default_factory=dict)
    attributes: dict[str, object] = field(default_factory=dict)

    def expr_get(self, name: str) -> object:
        if name == "attributes":
            return self.attributes
        if name in self.own:
            return self.own[name]
        return self.attributes.get(name)


class Opaque:
    """An object that is neither a Fields object nor a mapping."""

    language = "fr"


def item(**own: object) -> View:
    attributes = own.pop("attributes", {})
    assert isinstance(attributes, dict)
    return View(own=own, attributes=attributes)


def evaluate(source: str | bool | int | float, **scope: object) -> object:
    return compile_expression(source)(Scope(**scope))  # type: ignore[arg-type]


def rejected(source: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source)
    return caught.value


# --- literals ------------------------------------------------------------------------------------


def test_string_literal() -> None:
    """A string literal evaluates to itself."""
    assert evaluate('"chat"') == "chat"


def test_number_literals() -> None:
    """Integer and float literals evaluate to themselves."""
    assert evaluate("42") == 42
    assert evaluate("2.5") == 2.5


@pytest.mark.parametrize(
    ("source", "value"), [("true", True), ("True", True), ("false", False), ("False", False)]
)
def test_boolean_literals_in_both_spellings(source: str, value: bool) -> None:
    """Booleans are written true/false or True/False."""
    assert evaluate(source) is value


@pytest.mark.parametrize("source", ["null", "None"])
def test_null_literal_in_both_spellings(source: str) -> None:
    """Null is written null or None."""
    assert evaluate(source) is None


def test_list_literal_of_constants() -> None:
    """A list of literals evaluates to a list."""
    assert evaluate('["gold", 1, null, -2]') == ["gold", 1, None, -2]


def test_tuple_literal_evaluates_to_a_list() -> None:
    """A tuple literal evaluates to a list, the type attribute values have."""
    assert evaluate('("a", "b")') == ["a", "b"]


def test_list_literal_of_expressions() -> None:
    """A list may hold expressions, evaluated on each call."""
    expression = compile_expression("[item.channel, 1 + 1]")
    assert expression(Scope(item=item(channel="chat"))) == ["chat", 2]
    assert expression(Scope(item=item(channel="voice"))) == ["voice", 2]


# --- names and paths -----------------------------------------------------------------------------


def test_roots_evaluate_to_the_scope_objects() -> None:
    """item, agent, queue and now are the objects of the scope."""
    scope = Scope(item="i", agent="a", queue="q", now=12.5)
    assert [compile_expression(name)(scope) for name in ("item", "agent", "queue", "now")] == [
        "i",
        "a",
        "q",
        12.5,
    ]


def test_names_lists_the_roots_read() -> None:
    """Expression.names tells which of item, agent, queue, now an expression reads."""
    expression = compile_expression('item.channel == "chat" and has_skill(agent, "fr")')
    assert expression.names == frozenset({"item", "agent"})


def test_constant_expression_reads_no_name() -> None:
    """An expression of literals reads nothing."""
    assert compile_expression("1 + 2 == 3").names == frozenset()


def test_path_through_fields_object() -> None:
    """A path step calls expr_get on a Fields object."""
    assert evaluate("item.channel", item=item(channel="chat")) == "chat"


def test_path_through_mapping() -> None:
    """A path step on a mapping uses .get."""
    assert evaluate("item.customer.tier", item=item(customer={"tier": "gold"})) == "gold"


def test_long_path_through_nested_mappings() -> None:
    """A path of several steps walks nested mappings."""
    customer = {"address": {"country": {"code": "FR"}}}
    assert evaluate("item.customer.address.country.code", item=item(customer=customer)) == "FR"


def test_shorthand_path_falls_back_to_attributes() -> None:
    """item.language reads item.attributes.language through the view's fallback (SPEC §4)."""
    subject = item(attributes={"language": "fr"})
    assert evaluate("item.language", item=subject) == "fr"
    assert evaluate("item.attributes.language", item=subject) == "fr"


def test_missing_attribute_is_null() -> None:
    """A missing attribute evaluates to null."""
    assert evaluate("item.language", item=item()) is None


def test_null_propagates_along_a_path() -> None:
    """A step on null gives null: item.customer.tier with no customer is null."""
    assert evaluate("item.customer.tier", item=item()) is None


def test_missing_root_is_null() -> None:
    """A path from a root the scope does not have is null."""
    assert evaluate("agent.presence") is None


def test_step_on_a_plain_object_is_null() -> None:
    """A step on an object that is neither Fields nor a mapping is null, never getattr."""
    assert evaluate("item.language", item=Opaque()) is None


def test_step_on_a_scalar_is_null() -> None:
    """A step on a string or number is null."""
    assert evaluate("item.channel.length", item=item(channel="chat")) is None


def test_string_subscript_reads_a_key() -> None:
    """item.attributes["x-y"] reads a key that is not an identifier."""
    assert evaluate('item.attributes["x-y"]', item=item(attributes={"x-y": 3})) == 3


def test_subscript_directly_on_a_root() -> None:
    """item["channel"] is the same step as item.channel."""
    assert evaluate('item["channel"]', item=item(channel="chat")) == "chat"


# --- comparisons ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 == 1", True),
        ("1 == 2", False),
        ("1 != 2", True),
        ("1 != 1", False),
        ("1 < 2", True),
        ("2 < 1", False),
        ("2 <= 2", True),
        ("3 <= 2", False),
        ("3 > 2", True),
        ("2 > 3", False),
        ("2 >= 2", True),
        ("1 >= 2", False),
        ('"a" < "b"', True),
    ],
)
def test_comparison_operators(source: str, expected: bool) -> None:
    """== != < <= > >= compare like Python on comparable values."""
    assert evaluate(source) is expected


def test_equality_against_a_path() -> None:
    """item.channel == "chat" compares the attribute value."""
    expression = compile_expression('item.channel == "chat"')
    assert expression(Scope(item=item(channel="chat"))) is True
    assert expression(Scope(item=item(channel="voice"))) is False


def test_chained_comparison_holds_when_every_pair_holds() -> None:
    """1 < x <= 5 is true iff both pairs hold."""
    expression = compile_expression("1 < item.priority <= 5")
    assert expression(Scope(item=item(priority=5))) is True
    assert expression(Scope(item=item(priority=1))) is False
    assert expression(Scope(item=item(priority=6))) is False


def test_chained_comparison_with_null_in_the_middle_is_false() -> None:
    """A chain with a null operand is false."""
    assert evaluate("1 < item.priority < 5", item=item()) is False


def test_in_list() -> None:
    """x in [..] tests membership."""
    expression = compile_expression('item.customer.tier in ["gold", "platinum"]')
    assert expression(Scope(item=item(customer={"tier": "gold"}))) is True
    assert expression(Scope(item=item(customer={"tier": "silver"}))) is False


def test_not_in_list() -> None:
    """x not in [..] tests non-membership."""
    expression = compile_expression('item.channel not in ["chat", "sms"]')
    assert expression(Scope(item=item(channel="voice"))) is True
    assert expression(Scope(item=item(channel="chat"))) is False


def test_in_list_of_expressions() -> None:
    """Membership works when the list holds expressions."""
    assert evaluate("item.channel in [item.preferred, 'sms']", item=item(channel="sms")) is True


def test_in_list_attribute() -> None:
    """x in item.tags tests membership in a list attribute."""
    assert evaluate('"vip" in item.tags', item=item(tags=["new", "vip"])) is True


def test_in_string_is_substring() -> None:
    """ "ab" in "xaby" is a substring test."""
    assert evaluate('"ab" in "xaby"') is True


def test_in_mapping_tests_keys() -> None:
    """x in a mapping tests its keys."""
    assert evaluate('"fr" in agent.skills', agent={"skills": {"fr": 3}}) is True


def test_in_with_an_unhashable_value_is_false() -> None:
    """A list tested against a constant list of strings is not in it, without an error."""
    assert evaluate('item.tags in ["a", "b"]', item=item(tags=["a"])) is False


def test_in_a_non_container_is_false() -> None:
    """x in a number is false, not an exception."""
    assert evaluate('"a" in item.count', item=item(count=3)) is False
    assert evaluate('"a" not in item.count', item=item(count=3)) is False


@pytest.mark.parametrize("source", ['"a" < 1', '"a" >= 1', "[1] < 1", 'true > "x"'])
def test_ordering_incompatible_types_is_false(source: str) -> None:
    """An ordering between incompatible types is false, not an exception."""
    assert evaluate(source) is False


def test_equality_between_different_types() -> None:
    """1 == "1" is false and 1 != "1" is true, as in Python."""
    assert evaluate('1 == "1"') is False
    assert evaluate('1 != "1"') is True


# --- null semantics ------------------------------------------------------------------------------

NULL_COMPARISONS = [
    "item.missing == 1",
    "1 == item.missing",
    "item.missing == null",
    "null == null",
    "item.missing != 1",
    "item.missing != null",
    "item.missing < 1",
    "item.missing <= 1",
    "item.missing > 1",
    "item.missing >= 1",
    "1 < item.missing",
    "item.missing in [1, 2]",
    "item.missing in [null]",
    "1 in item.missing",
    "item.missing not in [1, 2]",
    "1 not in item.missing",
    'item.missing in "abc"',
]


@pytest.mark.parametrize("source", NULL_COMPARISONS)
def test_every_comparison_with_null_is_false(source: str) -> None:
    """Any comparison involving null is false (SPEC §4)."""
    assert evaluate(source, item=item()) is False


def test_null_is_falsy_in_boolean_operators() -> None:
    """not of a missing attribute is true: the way to test for a missing value."""
    assert evaluate("not item.language", item=item()) is True


# --- boolean operators ---------------------------------------------------------------------------


def test_and_returns_a_boolean() -> None:
    """and returns True/False by truthiness, not an operand."""
    assert evaluate('"a" and 2') is True
    assert evaluate('"a" and ""') is False


def test_or_returns_a_boolean() -> None:
    """or returns True/False by truthiness, not an operand."""
    assert evaluate('"" or 0') is False
    assert evaluate("null or item.channel", item=item(channel="chat")) is True


def test_and_or_with_many_operands() -> None:
    """and / or with more than two operands."""
    scope = {"item": item(a=1, b=2, c=0)}
    assert evaluate("item.a and item.b and item.c", **scope) is False
    assert evaluate("item.c or item.c or item.b", **scope) is True
    assert evaluate("item.a and item.b and item.a", **scope) is True


def test_and_short_circuits() -> None:
    """The right operand of a false and is not evaluated."""
    calls: list[str] = []

    class Tracking:
        def expr_get(self, name: str) -> object:
            calls.append(name)
            return None

    assert evaluate("item.first and item.second", item=Tracking()) is False
    assert calls == ["first"]


def test_not() -> None:
    """not negates truthiness."""
    assert evaluate("not true") is False
    assert evaluate("not 0") is True


def test_parentheses_group() -> None:
    """Parentheses override precedence."""
    assert evaluate("not (true and false)") is True
    assert evaluate("(1 + 2) * 3") == 9


# --- arithmetic ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [("2 + 3", 5), ("2 - 3", -1), ("2 * 3", 6), ("3 / 2", 1.5), ("1 + 2 * 3", 7)],
)
def test_arithmetic(source: str, expected: float) -> None:
    """+ - * / compute like Python, with Python precedence."""
    assert evaluate(source) == expected


def test_unary_minus() -> None:
    """-x negates a number."""
    assert evaluate("-item.priority", item=item(priority=4)) == -4


def test_unary_minus_of_null_is_null() -> None:
    """-null is null."""
    assert evaluate("-item.priority", item=item()) is None


@pytest.mark.parametrize(
    "source", ["item.missing + 1", "1 - item.missing", "item.missing * 2", "2 / item.missing"]
)
def test_arithmetic_with_null_is_null(source: str) -> None:
    """Any null operand makes arithmetic null."""
    assert evaluate(source, item=item()) is None


def test_division_by_zero_is_null() -> None:
    """x / 0 is null, not an exception."""
    assert evaluate("item.a / item.b", item=item(a=1, b=0)) is None


def test_arithmetic_on_non_numbers_is_null() -> None:
    """Arithmetic is numeric: strings, lists and booleans give null."""
    assert evaluate('"a" + "b"') is None
    assert evaluate("[1] * 3") is None
    assert evaluate("true + 1") is None


def test_arithmetic_feeds_comparisons() -> None:
    """now - item.waiting_since > 60 compares a computed value."""
    assert evaluate("now - item.waiting_since > 60", item=item(waiting_since=10.0), now=100.0)


# --- functions -----------------------------------------------------------------------------------


def test_has_skill_at_default_level() -> None:
    """has_skill(agent, name) is true when the agent has the skill at level 1 or more."""
    agent = View(own={"skills": {"billing": 1}})
    assert evaluate('has_skill(agent, "billing")', agent=agent) is True


def test_has_skill_below_min_level() -> None:
    """has_skill is false when the level is below min_level."""
    agent = View(own={"skills": {"billing": 2}})
    assert evaluate('has_skill(agent, "billing", 3)', agent=agent) is False
    assert evaluate('has_skill(agent, "billing", 2)', agent=agent) is True


def test_has_skill_min_level_by_keyword() -> None:
    """min_level may be given by keyword."""
    agent = View(own={"skills": {"billing": 5}})
    assert evaluate('has_skill(agent, "billing", min_level=5)', agent=agent) is True
    assert evaluate('has_skill(agent, "billing", min_level=6)', agent=agent) is False


def test_has_skill_missing_skill() -> None:
    """has_skill is false for a skill the agent lacks."""
    assert evaluate('has_skill(agent, "fr")', agent=View(own={"skills": {"en": 9}})) is False


def test_has_skill_without_skills_or_agent() -> None:
    """has_skill is false when the agent has no skills mapping, or there is no agent."""
    assert evaluate('has_skill(agent, "fr")', agent=View()) is False
    assert evaluate('has_skill(agent, "fr")') is False


def test_has_skill_with_a_skill_name_from_the_item() -> None:
    """The skill name may come from an expression."""
    agent = View(own={"skills": {"fr": 2}})
    subject = item(attributes={"language": "fr"})
    assert evaluate("has_skill(agent, item.language)", agent=agent, item=subject) is True


def test_contains_on_string_list_and_mapping() -> None:
    """contains(a, b) is b in a for a string, a list and a mapping."""
    assert evaluate('contains("invoice 42", "voice")') is True
    assert evaluate('contains(["a", "b"], "b")') is True
    assert evaluate('contains(item.customer, "tier")', item=item(customer={"tier": "x"})) is True
    assert evaluate('contains(["a", "b"], "c")') is False


def test_contains_with_null_is_false() -> None:
    """contains with a null argument is false."""
    assert evaluate('contains(item.tags, "vip")', item=item()) is False
    assert evaluate("contains(item.tags, item.missing)", item=item(tags=[None])) is False


def test_contains_in_a_string_of_a_non_string_is_false() -> None:
    """contains("abc", 1) is false, not an exception."""
    assert evaluate('contains("abc", 1)') is False


def test_startswith() -> None:
    """startswith(s, p) is true iff s starts with p; false for non-strings."""
    assert evaluate('startswith(item.phone, "+33")', item=item(phone="+33 1 23")) is True
    assert evaluate('startswith(item.phone, "+32")', item=item(phone="+33 1 23")) is False
    assert evaluate('startswith(item.phone, "+33")', item=item()) is False


def test_len() -> None:
    """len of a string, list or mapping."""
    assert evaluate('len("abc")') == 3
    assert evaluate("len(item.tags)", item=item(tags=["a", "b"])) == 2
    assert evaluate("len(item.customer)", item=item(customer={"a": 1})) == 1


def test_len_of_null_is_null() -> None:
    """len(null) is null; so is len of a number."""
    assert evaluate("len(item.tags)", item=item()) is None
    assert evaluate("len(3)") is None


def test_lower() -> None:
    """lower(s) lower-cases a string; null for anything else."""
    assert evaluate('lower(item.language) == "fr"', item=item(language="FR")) is True
    assert evaluate("lower(item.language)", item=item()) is None


def test_minutes_waited() -> None:
    """minutes_waited(item) is (now - item.waiting_since) / 60."""
    assert evaluate("minutes_waited(item)", item=item(waiting_since=100.0), now=400.0) == 5.0


def test_minutes_waited_without_waiting_since_is_null() -> None:
    """minutes_waited is null when the item has no waiting_since."""
    assert evaluate("minutes_waited(item)", item=item()) is None
    assert evaluate("minutes_waited(item) > 1", item=item()) is False


def test_minutes_waited_reads_now() -> None:
    """minutes_waited depends on now, so names includes it."""
    assert compile_expression("minutes_waited(item)").names == frozenset({"item", "now"})


def test_spec_example() -> None:
    """The SPEC §4 example evaluates on a matching and a non-matching item."""
    source = (
        'item.channel == "chat" and item.customer.tier in ["gold", "platinum"] '
        'and item.language == "fr"'
    )
    expression = compile_expression(source)
    match = item(channel="chat", customer={"tier": "gold"}, attributes={"language": "fr"})
    other = item(channel="chat", customer={"tier": "gold"}, attributes={"language": "de"})
    assert expression(Scope(item=match)) is True
    assert expression(Scope(item=other)) is False


# --- constants, caching and the value types ------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "text"), [(True, "true"), (False, "false"), (3, "3"), (2.5, "2.5")]
)
def test_bool_or_number_source_is_a_constant(source: bool | float, text: str) -> None:
    """A bool or number source (as YAML gives `when: true`) is a constant expression."""
    expression = compile_expression(source)
    assert expression(Scope()) == source
    assert expression.source == text
    assert expression.names == frozenset()


def test_compilation_is_cached_by_source() -> None:
    """Compiling the same source twice returns the same Expression."""
    assert compile_expression("item.channel") is compile_expression("item.channel")


def test_cache_keeps_true_and_one_apart() -> None:
    """True and 1 are equal keys in Python but different sources."""
    assert compile_expression(1)(Scope()) == 1
    assert compile_expression(True)(Scope()) is True


def test_expression_is_frozen() -> None:
    """An Expression cannot be changed."""
    expression = compile_expression("item.channel")
    with pytest.raises(dataclasses.FrozenInstanceError):
        expression.source = "other"  # type: ignore[misc]


def test_expression_keeps_its_source() -> None:
    """Expression.source is the text it was compiled from."""
    assert compile_expression(" item.a == 1").source == " item.a == 1"
    assert isinstance(compile_expression("1"), Expression)


def test_scope_defaults() -> None:
    """A Scope has no item, agent or queue and now = 0 by default."""
    scope = Scope()
    assert (scope.item, scope.agent, scope.queue, scope.now) == (None, None, None, 0.0)


def test_scope_is_reusable() -> None:
    """A Scope is mutable so a hot path can reuse it between calls."""
    expression = compile_expression("item.priority > 2")
    scope = Scope(item=item(priority=1))
    assert expression(scope) is False
    scope.item = item(priority=3)
    assert expression(scope) is True


def test_scope_has_slots() -> None:
    """A Scope takes no attribute other than item, agent, queue and now."""
    with pytest.raises(AttributeError):
        Scope().other = 1  # type: ignore[attr-defined]


def test_leading_blanks_are_allowed() -> None:
    """Leading spaces, which Python's parser refuses, are accepted."""
    assert evaluate("  1 + 1") == 2


def test_parenthesised_expression_may_span_lines() -> None:
    """Inside parentheses an expression may continue on the next line."""
    assert evaluate('(item.channel == "chat"\n and true)', item=item(channel="chat")) is True


# --- rejected constructs -------------------------------------------------------------------------

REJECTED = [
    # (source, offset, words of the message)
    ("", 0, "empty"),
    ("   ", 0, "empty"),
    ("item.channel ==", 15, "invalid syntax"),
    ("item.channel = 1", 13, "invalid syntax"),
    ('eval("1")', 0, "unknown function 'eval'; allowed: has_skill, contains"),
    ('item.a and open("f")', 11, "unknown function 'open'"),
    ("item.get()", 0, "only named functions may be called"),
    ("x == 1", 0, "unknown name 'x'"),
    ("item.a == len", 10, "unknown name 'len'"),
    ("item.__class__", 5, "'__class__' is not allowed"),
    ("item.customer._secret", 14, "'_secret' is not allowed"),
    ('item["__dict__"]', 5, "'__dict__' is not allowed"),
    ("item.tags[0]", 10, "subscript must be a string constant"),
    ("item.tags[0:2]", 10, "slices are not allowed"),
    ('"abc".upper', 0, "only allowed on a path"),
    ("lower(item.a).b", 0, "only allowed on a path"),
    ("now.day", 0, "'now' is a number of seconds"),
    ("[x for x in item.tags]", 0, "comprehensions"),
    ("{x for x in item.tags}", 0, "comprehensions"),
    ("(x for x in item.tags)", 0, "comprehensions"),
    ("{k: 1 for k in item.tags}", 0, "comprehensions"),
    ("lambda: 1", 0, "lambdas"),
    ('f"{item.a}"', 0, "f-strings"),
    ("(y := 1)", 1, "assignment expressions"),
    ("len(*item.tags)", 4, "starred"),
    ("[*item.tags]", 1, "starred"),
    ("item.a if true else 1", 0, "conditional expressions"),
    ('{"a": 1}', 0, "dict literals"),
    ("{1, 2}", 0, "set literals"),
    ("item.a ** 2", 7, "'**' is not allowed"),
    ("item.a % 2", 7, "'%' is not allowed"),
    ("item.a // 2", 7, "'//' is not allowed"),
    ("(item.a) | 2", 9, "'|' is not allowed"),
    ("~item.a", 0, "'~' is not allowed"),
    ("+item.a", 0, "'+' is not allowed"),
    ("item.a is None", 7, "'is' is not allowed"),
    ("1 < item.a is not None", 11, "'is not' is not allowed"),
    ("1j", 0, "literal 1j"),
    ('b"x"', 0, "literal b'x'"),
    ("...", 0, "literal Ellipsis"),
    ("len(item.a, item.b)", 0, "len() takes 1 argument (x), not 2"),
    ("has_skill(agent)", 0, "has_skill() takes 2 or 3 arguments"),
    ('has_skill(agent, "fr", level=2)', 23, "only min_level is allowed"),
    ('has_skill(agent, "fr", 2, min_level=3)', 26, "min_level once"),
    ("len(x=item.a)", 4, "len() takes no keyword arguments"),
    ("contains(**item)", 9, "unpacking"),
    ("await item", 0, "Await expressions are not allowed"),
]


@pytest.mark.parametrize(("source", "offset", "words"), REJECTED)
def test_rejected_construct_names_its_column(source: str, offset: int, words: str) -> None:
    """Anything outside SPEC §4 is an ExpressionError naming the column and the problem."""
    error = rejected(source)
    assert (error.offset, error.source) == (offset, source)
    assert words in error.message


def test_error_column_counts_characters_not_bytes() -> None:
    """After non-ASCII text the column is still a character offset."""
    assert rejected('"é" == item.é.__x').offset == 14


def test_error_column_on_a_later_line() -> None:
    """In a multi-line expression the offset counts from the start of the source."""
    assert rejected("(item.a\n and foo)").offset == 13


def test_error_column_with_leading_blanks() -> None:
    """Leading blanks count in the offset."""
    assert rejected("   foo").offset == 3


def test_syntax_error_at_a_token() -> None:
    """A syntax error points at the offending token."""
    error = rejected("item.a item.b")
    assert (error.offset, error.message) == (7, "invalid syntax")


def test_syntax_error_at_the_end() -> None:
    """An expression that stops too early points past its end."""
    assert "ends too early" in rejected("item.a and").message


def test_error_message_names_the_column() -> None:
    """str() of the error shows the 1-based column and the source."""
    message = "unknown name 'x'; allowed: item, agent, queue, now, true, false, null"
    assert str(rejected("x")) == f"{message} (at column 1 of 'x')"


def test_non_string_source_is_rejected() -> None:
    """A source that is not a string, a bool or a number is an ExpressionError."""
    with pytest.raises(ExpressionError):
        compile_expression(None)  # type: ignore[arg-type]


# --- properties ----------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=8,
)
OPERATORS = ["==", "!=", "<", "<=", ">", ">=", "in", "not in"]


@given(value=json_values, op=st.sampled_from(OPERATORS), null_on_left=st.booleans())
def test_comparisons_with_null_are_false_for_any_value(
    value: object, op: str, null_on_left: bool
) -> None:
    """For any value and any comparison operator, comparing with null is false and never raises."""
    source = f"item.missing {op} item.value" if null_on_left else f"item.value {op} item.missing"
    assert evaluate(source, item=item(value=value)) is False


@given(left=json_values, right=json_values, op=st.sampled_from(OPERATORS))
def test_comparisons_never_raise(left: object, right: object, op: str) -> None:
    """Any comparison between any values is a boolean, never an exception."""
    result = evaluate(f"item.left {op} item.right", item=item(left=left, right=right))
    assert isinstance(result, bool)


numbers = st.integers(min_value=-(10**6), max_value=10**6) | st.floats(
    min_value=-1e6, max_value=1e6, allow_nan=False
)


@given(a=numbers, b=numbers, op=st.sampled_from(["+", "-", "*", "/"]))
def test_literal_arithmetic_matches_python(a: float, b: float, op: str) -> None:
    """Arithmetic on number literals equals Python's; division by zero is null."""
    source = f"{a!r} {op} ({b!r})"
    try:
        expected: object = {"+": a + b, "-": a - b, "*": a * b}[op] if op != "/" else a / b
    except ZeroDivisionError:
        expected = None
    result = evaluate(source)
    if isinstance(expected, float) and not math.isfinite(expected):
        assert result is None  # issue 17: arithmetic never makes NaN or Infinity
    else:
        assert result == expected


@given(a=numbers, b=numbers, op=st.sampled_from(["+", "-", "*", "/"]))
def test_path_arithmetic_matches_literal_arithmetic(a: float, b: float, op: str) -> None:
    """Arithmetic on attribute values gives the same result as on the literals."""
    on_paths = evaluate(f"item.a {op} item.b", item=item(a=a, b=b))
    on_literals = evaluate(f"{a!r} {op} ({b!r})")
    assert on_paths == on_literals or (on_paths != on_paths and on_literals != on_literals)


# -- issue 17 item 3: non-finite numbers ---------------------------------------------------------

NON_FINITE = [math.nan, math.inf, -math.inf]


@pytest.mark.parametrize("value", NON_FINITE)
@pytest.mark.parametrize("op", ["==", "!=", "<", "<=", ">", ">="])
def test_a_non_finite_number_compares_false_like_null(value: float, op: str) -> None:
    """Issue 17 item 3, SPEC §4: NaN and ±Infinity count as null in every comparison."""
    assert evaluate(f"item.value {op} 1", item=item(value=value)) is False
    assert evaluate(f"1 {op} item.value", item=item(value=value)) is False
    assert evaluate(f"item.value {op} item.value", item=item(value=value)) is False


def test_arithmetic_that_would_overflow_gives_null() -> None:
    """Issue 17 item 3: ``1e308 * 10`` is null, not Infinity, so nothing downstream sees one."""
    assert evaluate("item.big * 10", item=item(big=1e308)) is None
    assert evaluate("1e308 * 10") is None
    assert evaluate("item.big * 10 > 1", item=item(big=1e308)) is False


def test_a_non_finite_number_literal_does_not_compile() -> None:
    """Issue 17 item 3: ``1e999`` (Infinity) is a validation error naming its position."""
    with pytest.raises(ExpressionError, match="finite") as raised:
        compile_expression("item.score > 1e999")
    assert raised.value.offset == 13
