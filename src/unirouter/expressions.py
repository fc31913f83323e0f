"""SPEC §4: the expression language of conditions and ``order_by`` keys.

A source string is parsed with :mod:`ast` (it is never evaluated), every node is checked against the
allowed subset, and the tree is turned once into nested closures. Calling an :class:`Expression`
runs only those closures, so the routing hot path pays no parsing and no checking.

Null semantics (SPEC §4): a missing attribute is ``None`` (null) and null propagates through paths
and arithmetic; every comparison involving null is false, and so is a comparison between
incompatible types. Evaluation never raises. A non-finite number (NaN, ±Infinity: no JSON can hold
one, and NaN orders nothing) counts as null in every comparison, arithmetic that would make one
gives null, and a literal that is one (``1e999``) does not compile (issue 17 item 3).

This module is longer than the 400-line guideline because the checks and the closures of one
language belong together; the functions themselves stay short.
"""

from __future__ import annotations

import ast
import functools
import io
import math
import operator
from collections.abc import Callable, Mapping, Sized
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from unirouter.errors import ExpressionError

__all__ = [
    "FUNCTIONS",
    "ROOTS",
    "Expression",
    "Fields",
    "Scope",
    "compile_expression",
    "next_change",
]

#: The names an expression may read (SPEC §4).
ROOTS = ("item", "agent", "queue", "now")
#: The functions an expression may call (SPEC §4).
FUNCTIONS = ("has_skill", "contains", "startswith", "len", "lower", "minutes_waited")

_LITERALS: dict[str, object] = {"true": True, "false": False, "null": None}
_CONSTANT_TYPES = (bool, int, float, str)
_NUMBERS = (int, float)  # exact types: bool is not a number in arithmetic


class Fields(Protocol):
    """An object that resolves the names of a path itself (SPEC §4); ``None`` when missing."""

    def expr_get(self, name: str) -> object:
        """The value of the field ``name``, or ``None``."""
        ...


class Scope:
    """What an expression reads (SPEC §4); mutable so that a hot path can reuse one instance."""

    __slots__ = ("agent", "item", "now", "queue")

    def __init__(
        self, item: object = None, agent: object = None, queue: object = None, now: float = 0.0
    ) -> None:
        self.item = item
        self.agent = agent
        self.queue = queue
        self.now = now

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in ROOTS)
        return f"Scope({fields})"


Evaluator = Callable[[Scope], object]


@dataclass(frozen=True, slots=True, kw_only=True)
class Expression:
    """A compiled SPEC §4 expression: its source, the roots it reads, and a callable on a Scope."""

    source: str
    names: frozenset[str]
    _run: Evaluator = field(repr=False, compare=False)
    #: (left, right) of every comparison that reads the time (``now``, ``minutes_waited``).
    probes: tuple[tuple[Evaluator, Evaluator], ...] = field(default=(), repr=False, compare=False)

    def __call__(self, scope: Scope) -> object:
        """Evaluate against ``scope``; never raises for any data (SPEC §4 null semantics)."""
        return self._run(scope)


#: After a comparison's crossing time, the next look is at least this much later (seconds), so
#: float noise at the crossing cannot make a timer fire again at the same instant.
_STEP = 1e-3


def next_change(expression: Expression, scope: Scope) -> float | None:
    """The first moment after ``scope.now`` at which a comparison of ``expression`` that reads the
    time could flip, or None (R7, R8: time-dependent conditions get their own timer, not a poll).

    Each side is taken as linear in time (``now``, ``minutes_waited``, their sums and multiples),
    which the language's arithmetic gives; ``scope.now`` is left as it was.
    """
    now, best = scope.now, None
    for left, right in expression.probes:
        at = _crossing(left, right, scope, now)
        if at is not None and (best is None or at < best):
            best = at
    scope.now = now
    return best


def _crossing(left: Evaluator, right: Evaluator, scope: Scope, now: float) -> float | None:
    before, after = _gap(left, right, scope, now), _gap(left, right, scope, now + 1.0)
    if before is None or after is None or after == before:
        return None
    at = now - before / (after - before)
    if at > now:
        return max(at, now + _STEP)
    if abs(before) <= 1e-9:  # on the boundary now: a strict comparison flips just after
        return now + _STEP
    return None


def _gap(left: Evaluator, right: Evaluator, scope: Scope, t: float) -> float | None:
    """``left - right`` at time ``t``, or None when either side is not a number."""
    scope.now = t
    a, b = left(scope), right(scope)
    if type(a) not in _NUMBERS or type(b) not in _NUMBERS:
        return None
    return float(a) - float(b)  # type: ignore[arg-type]


def compile_expression(source: str | bool | int | float) -> Expression:
    """Compile a SPEC §4 expression once; a bool or a number (as YAML may give) is a constant.

    Results are cached by source. Raises :class:`ExpressionError` naming the 0-based column.
    """
    if not isinstance(source, str | bool | int | float):
        raise ExpressionError(
            repr(source), 0, "an expression must be a string, a boolean or a number"
        )
    return _compile_cached(source)


@functools.lru_cache(maxsize=4096, typed=True)  # typed: True, 1 and 1.0 are different sources
def _compile_cached(source: str | bool | int | float) -> Expression:
    if not isinstance(source, str):
        text = ("true" if source else "false") if isinstance(source, bool) else repr(source)
        return Expression(source=text, names=frozenset(), _run=_constant(source).run)
    compiler = _Compiler(source)
    code = compiler.compile(compiler.parse())
    probes = tuple(compiler.probes)
    return Expression(source=source, names=frozenset(compiler.names), _run=code.run, probes=probes)


# --- values at run time --------------------------------------------------------------------------


def _lookup(value: object, name: str) -> object:
    """One step of a path (SPEC §4): ``Fields.expr_get``, else ``Mapping.get``, else null."""
    if type(value) is dict:
        return value.get(name)
    getter = getattr(value, "expr_get", None)
    if getter is not None:
        result: object = getter(name)
        return result
    if isinstance(value, Mapping):
        return value.get(name)
    return None


def _unknown(value: object) -> bool:
    """Null, or a number no comparison can use (NaN, ±Infinity): both compare false."""
    return value is None or (type(value) is float and not math.isfinite(value))


def _equal(a: object, b: object) -> bool:
    return not _unknown(a) and not _unknown(b) and a == b


def _not_equal(a: object, b: object) -> bool:
    return not _unknown(a) and not _unknown(b) and a != b


def _ordering(op: Callable[[Any, Any], object]) -> Callable[[object, object], bool]:
    """An ordering that is false for null, non-finite numbers and incompatible types (SPEC §4)."""

    def compare(a: object, b: object) -> bool:
        if _unknown(a) or _unknown(b):
            return False
        try:
            return bool(op(a, b))
        except TypeError:
            return False

    return compare


def _member(a: object, b: object) -> bool:
    if a is None or b is None:
        return False
    try:
        return a in b  # type: ignore[operator]  # a TypeError is the answer "false"
    except TypeError:
        return False


def _not_member(a: object, b: object) -> bool:
    if a is None or b is None:
        return False
    try:
        return a not in b  # type: ignore[operator]
    except TypeError:
        return False


_at_least = _ordering(operator.ge)


def _arithmetic(op: Callable[[object, object], object]) -> Callable[[object, object], object]:
    """Arithmetic on numbers; null, a non-number, a division by zero or a result that is not a
    finite number gives null (SPEC §4, issue 17)."""

    def apply(a: object, b: object) -> object:
        if type(a) not in _NUMBERS or type(b) not in _NUMBERS:
            return None
        try:
            result = op(a, b)
        except ArithmeticError:
            return None
        return None if _unknown(result) else result

    return apply


def _negate(value: object) -> object:
    return -value if type(value) in _NUMBERS else None  # type: ignore[operator]


def _has_skill(agent: object, name: object, min_level: object = 1) -> bool:
    """SPEC §4 ``has_skill``: the agent's ``skills`` map ``name`` to ``min_level`` or more."""
    skills = _lookup(agent, "skills")
    if not isinstance(skills, Mapping):
        return False
    try:
        level = skills.get(name)
    except TypeError:  # an unhashable name
        return False
    return _at_least(level, min_level)


def _contains(a: object, b: object) -> bool:
    """SPEC §4 ``contains``: ``b in a`` for a string, list or mapping ``a``; false with null."""
    if b is None or not isinstance(a, str | list | tuple | Mapping):
        return False
    if isinstance(a, str) and not isinstance(b, str):
        return False
    return _member(b, a)


def _startswith(s: object, prefix: object) -> bool:
    """SPEC §4 ``startswith``: true iff both are strings and ``s`` starts with ``prefix``."""
    return isinstance(s, str) and isinstance(prefix, str) and s.startswith(prefix)


def _length(value: object) -> object:
    """SPEC §4 ``len``: the length of a string, list or mapping; null for anything else."""
    return len(value) if isinstance(value, Sized) else None


def _lower(value: object) -> object:
    """SPEC §4 ``lower``: a string in lower case; null for anything else."""
    return value.lower() if isinstance(value, str) else None


def _minutes_waited(item: Evaluator) -> Evaluator:
    """SPEC §4 ``minutes_waited``: ``(now - item.waiting_since) / 60``, null when unknown."""

    def minutes(scope: Scope) -> object:
        since = _lookup(item(scope), "waiting_since")
        if since is None:
            return None
        try:
            return (scope.now - since) / 60  # type: ignore[operator]
        except TypeError:
            return None

    return minutes


# --- compiled nodes ------------------------------------------------------------------------------


class _Code(NamedTuple):
    """A compiled node: its closure, and its value when it is known at compile time."""

    run: Evaluator
    constant: bool = False
    value: object = None


def _constant(value: object) -> _Code:
    return _Code(lambda _scope: value, constant=True, value=value)


def _apply1(fn: Callable[[object], object], operand: _Code) -> _Code:
    if operand.constant:
        return _constant(fn(operand.value))
    run = operand.run
    return _Code(lambda scope: fn(run(scope)))


def _apply2(fn: Callable[[object, object], object], left: _Code, right: _Code) -> _Code:
    if left.constant and right.constant:
        return _constant(fn(left.value, right.value))
    first, second = left.run, right.run
    if right.constant:  # the usual shape: item.channel == "chat"
        value = right.value
        return _Code(lambda scope: fn(first(scope), value))
    return _Code(lambda scope: fn(first(scope), second(scope)))


def _apply(fn: Callable[..., object], args: list[_Code]) -> _Code:
    if len(args) == 1:
        return _apply1(fn, args[0])
    if len(args) == 2:
        return _apply2(fn, args[0], args[1])
    if all(arg.constant for arg in args):
        return _constant(fn(*(arg.value for arg in args)))
    runs = tuple(arg.run for arg in args)
    return _Code(lambda scope: fn(*[run(scope) for run in runs]))


def _path(root: str, steps: tuple[str, ...]) -> Evaluator:
    """``item.a.b``: one closure looping over the precomputed names; null stops the walk."""
    get_root = operator.attrgetter(root)
    if len(steps) == 1:
        (name,) = steps
        return lambda scope: _lookup(get_root(scope), name)

    def walk(scope: Scope) -> object:
        value = get_root(scope)
        for name in steps:
            if value is None:
                return None
            value = _lookup(value, name)
        return value

    return walk


def _sequence(items: list[_Code]) -> _Code:
    """A list or tuple literal; both evaluate to a list (the type attribute values have)."""
    if all(item.constant for item in items):
        return _constant([item.value for item in items])
    runs = tuple(item.run for item in items)
    return _Code(lambda scope: [run(scope) for run in runs])


def _all_of(runs: tuple[Evaluator, ...]) -> Evaluator:
    if len(runs) == 2:
        first, second = runs
        return lambda scope: bool(first(scope)) and bool(second(scope))

    def every(scope: Scope) -> bool:
        return all(run(scope) for run in runs)

    return every


def _any_of(runs: tuple[Evaluator, ...]) -> Evaluator:
    if len(runs) == 2:
        first, second = runs
        return lambda scope: bool(first(scope)) or bool(second(scope))

    def some(scope: Scope) -> bool:
        return any(run(scope) for run in runs)

    return some


def _member_of_constant(left: _Code, values: list[object]) -> _Code | None:
    """``x in ["a", "b"]`` as one set lookup, when every listed value is hashable."""
    try:
        members = frozenset(value for value in values if value is not None)
    except TypeError:
        return None
    run = left.run

    def member(scope: Scope) -> bool:
        try:
            return run(scope) in members  # null is never in members
        except TypeError:
            return False

    return _Code(member)


def _compare(test: Callable[[object, object], bool], left: _Code, right: _Code) -> _Code:
    if test is _member and right.constant and isinstance(right.value, list) and not left.constant:
        fast = _member_of_constant(left, right.value)
        if fast is not None:
            return fast
    if test is _equal and right.constant and right.value is not None and not left.constant:
        run, value = left.run, right.value
        return _Code(lambda scope: run(scope) == value)  # None == value is already false
    return _apply2(test, left, right)


def _chain(tests: list[Callable[[object, object], bool]], operands: list[_Code]) -> Evaluator:
    """``a < b < c``: every pair holds; later operands are not evaluated once one fails."""
    first = operands[0].run
    pairs = tuple(zip(tests, (code.run for code in operands[1:]), strict=True))

    def chain(scope: Scope) -> bool:
        left = first(scope)
        for test, run in pairs:
            right = run(scope)
            if not test(left, right):
                return False
            left = right
        return True

    return chain


_COMPARISONS: dict[type[ast.cmpop], Callable[[object, object], bool]] = {
    ast.Eq: _equal,
    ast.NotEq: _not_equal,
    ast.Lt: _ordering(operator.lt),
    ast.LtE: _ordering(operator.le),
    ast.Gt: _ordering(operator.gt),
    ast.GtE: _ordering(operator.ge),
    ast.In: _member,
    ast.NotIn: _not_member,
}
_ARITHMETIC: dict[type[ast.operator], Callable[[object, object], object]] = {
    ast.Add: _arithmetic(operator.add),
    ast.Sub: _arithmetic(operator.sub),
    ast.Mult: _arithmetic(operator.mul),
    ast.Div: _arithmetic(operator.truediv),
}
_CALLS: dict[str, Callable[..., object]] = {
    "has_skill": _has_skill,
    "contains": _contains,
    "startswith": _startswith,
    "len": _length,
    "lower": _lower,
}
#: Parameter names of each function; only ``min_level`` may be given by keyword.
_PARAMETERS = {
    "has_skill": ("agent", "name", "min_level"),
    "contains": ("a", "b"),
    "startswith": ("s", "prefix"),
    "len": ("x",),
    "lower": ("s",),
    "minutes_waited": ("item",),
}
_REQUIRED = {"has_skill": 2}
_SYMBOLS: dict[type[ast.AST], str] = {
    ast.Mod: "%",
    ast.FloorDiv: "//",
    ast.Pow: "**",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.UAdd: "+",
    ast.Invert: "~",
    ast.Is: "is",
    ast.IsNot: "is not",
}
_REJECTED: dict[type[ast.AST], str] = {
    ast.Lambda: "lambdas are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.NamedExpr: "assignment expressions (:=) are not allowed",
    ast.Starred: "starred expressions (*x) are not allowed",
    ast.Slice: "slices are not allowed; a subscript must be a string constant",
    ast.IfExp: "conditional expressions (x if c else y) are not allowed",
    ast.Dict: "dict literals are not allowed; use a list",
    ast.Set: "set literals are not allowed; use a list",
}


def _reads_time(node: ast.expr) -> bool:
    """Whether a subexpression reads ``now`` (directly or through ``minutes_waited``)."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id == "now":
            return True
        call = isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name)
        if call and sub.func.id == "minutes_waited":  # type: ignore[attr-defined]
            return True
    return False


# --- the compiler --------------------------------------------------------------------------------


class _Compiler:
    """Checks one parsed source against SPEC §4 and builds its closures."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.indent = len(source) - len(source.lstrip())  # the parser refuses leading blanks
        self.text = source[self.indent :]
        self.names: set[str] = set()
        self.probes: list[tuple[Evaluator, Evaluator]] = []

    def parse(self) -> ast.expr:
        if not self.text.strip():
            raise ExpressionError(self.source, 0, "an expression must not be empty")
        try:
            return ast.parse(self.text, mode="eval").body
        except SyntaxError as error:
            offset = self._offset(error.lineno or 1, (error.offset or 0) - 1, in_bytes=False)
            detail = "" if error.msg == "invalid syntax" else f" ({error.msg})"
            if offset >= len(self.source):
                detail = " (the expression ends too early)"
            raise ExpressionError(self.source, offset, f"invalid syntax{detail}") from None
        except (ValueError, RecursionError, MemoryError) as error:  # NUL bytes, absurd nesting
            raise ExpressionError(self.source, 0, f"invalid expression: {error}") from None

    def compile(self, node: ast.expr) -> _Code:
        """Dispatch on the node type; anything not listed in SPEC §4 is an error."""
        match node:
            case ast.Constant():
                return self.constant(node)
            case ast.Name():
                return self.name(node)
            case ast.Attribute() | ast.Subscript():
                return self.path(node)
            case ast.List() | ast.Tuple():
                return _sequence([self.compile(element) for element in node.elts])
            case ast.UnaryOp():
                return self.unary(node)
            case ast.BinOp():
                return self.binary(node)
            case ast.BoolOp():
                return self.boolean(node)
            case ast.Compare():
                return self.comparison(node)
            case ast.Call():
                return self.call(node)
        message = _REJECTED.get(type(node), f"{type(node).__name__} expressions are not allowed")
        raise self.error(node, message)

    def constant(self, node: ast.Constant) -> _Code:
        if node.value is not None and type(node.value) not in _CONSTANT_TYPES:
            raise self.error(node, f"the literal {node.value!r} is not allowed")
        if type(node.value) is float and not math.isfinite(node.value):
            raise self.error(node, "a number literal must be finite")
        return _constant(node.value)

    def name(self, node: ast.Name) -> _Code:
        if node.id in _LITERALS:
            return _constant(_LITERALS[node.id])
        if node.id not in ROOTS:
            raise self.error(
                node, f"unknown name {node.id!r}; allowed: {', '.join(ROOTS)}, true, false, null"
            )
        self.names.add(node.id)
        return _Code(operator.attrgetter(node.id))

    def path(self, node: ast.Attribute | ast.Subscript) -> _Code:
        """``item.customer.tier`` or ``item.attributes["x-y"]``: a root then names (SPEC §4)."""
        steps: list[str] = []
        current: ast.expr = node
        access: ast.expr = node
        while isinstance(current, ast.Attribute | ast.Subscript):
            steps.append(self.step(current))
            access, current = current, current.value
        if not isinstance(current, ast.Name) or current.id not in ROOTS:
            raise self.error(
                current,
                "attributes and subscripts are only allowed on a path "
                f"starting at {', '.join(ROOTS)}",
            )
        if current.id == "now":
            raise self.error(access, "'now' is a number of seconds and has no attributes")
        self.names.add(current.id)
        return _Code(_path(current.id, tuple(reversed(steps))))

    def step(self, node: ast.Attribute | ast.Subscript) -> str:
        """The name one ``.name`` or ``["name"]`` step reads; private names are refused."""
        if isinstance(node, ast.Attribute):
            name, where = node.attr, self._attribute_offset(node)
        elif isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            name, where = node.slice.value, self._node_offset(node.slice)
        else:
            message = (
                _REJECTED[ast.Slice]
                if isinstance(node.slice, ast.Slice)
                else ("a subscript must be a string constant")
            )
            raise self.error(node.slice, message)
        if name.startswith("_"):
            raise ExpressionError(
                self.source,
                where,
                f"the name {name!r} is not allowed: names starting with '_' are private",
            )
        return name

    def unary(self, node: ast.UnaryOp) -> _Code:
        if isinstance(node.op, ast.Not):
            return _apply1(operator.not_, self.compile(node.operand))
        if isinstance(node.op, ast.USub):
            return _apply1(_negate, self.compile(node.operand))
        raise self.error(node, f"the operator {_SYMBOLS[type(node.op)]!r} is not allowed")

    def binary(self, node: ast.BinOp) -> _Code:
        fn = _ARITHMETIC.get(type(node.op))
        if fn is None:
            offset = self._operator_offset(node.left, node.right)
            message = f"the operator {_SYMBOLS[type(node.op)]!r} is not allowed; use + - * /"
            raise ExpressionError(self.source, offset, message)
        return _apply2(fn, self.compile(node.left), self.compile(node.right))

    def boolean(self, node: ast.BoolOp) -> _Code:
        codes = [self.compile(value) for value in node.values]
        runs = tuple(code.run for code in codes)
        combine = _all_of(runs) if isinstance(node.op, ast.And) else _any_of(runs)
        if all(code.constant for code in codes):
            return _constant(combine(Scope()))
        return _Code(combine)

    def comparison(self, node: ast.Compare) -> _Code:
        tests = [self.comparator(node, index) for index in range(len(node.ops))]
        operands = [self.compile(node.left), *map(self.compile, node.comparators)]
        nodes = [node.left, *node.comparators]
        for index in range(len(tests)):
            if _reads_time(nodes[index]) or _reads_time(nodes[index + 1]):
                self.probes.append((operands[index].run, operands[index + 1].run))
        if len(tests) == 1:
            return _compare(tests[0], operands[0], operands[1])
        chain = _chain(tests, operands)
        if all(code.constant for code in operands):
            return _constant(chain(Scope()))
        return _Code(chain)

    def comparator(self, node: ast.Compare, index: int) -> Callable[[object, object], bool]:
        op = node.ops[index]
        test = _COMPARISONS.get(type(op))
        if test is None:
            before = node.left if index == 0 else node.comparators[index - 1]
            offset = self._operator_offset(before, node.comparators[index])
            message = (
                f"the operator {_SYMBOLS[type(op)]!r} is not allowed; null is falsy: use 'not x'"
            )
            raise ExpressionError(self.source, offset, message)
        return test

    def call(self, node: ast.Call) -> _Code:
        """One of the SPEC §4 functions, with its arguments checked at compile time."""
        name = node.func.id if isinstance(node.func, ast.Name) else ""
        if name not in _PARAMETERS:
            what = f"unknown function {name!r}" if name else "only named functions may be called"
            raise self.error(node, f"{what}; allowed: {', '.join(FUNCTIONS)}")
        args = self.arguments(node, name)
        if name == "minutes_waited":
            self.names.add("now")
            return _Code(_minutes_waited(args[0].run))
        return _apply(_CALLS[name], args)

    def arguments(self, node: ast.Call, name: str) -> list[_Code]:
        parameters = _PARAMETERS[name]
        given = list(node.args)
        for arg in given:
            if isinstance(arg, ast.Starred):
                raise self.error(arg, _REJECTED[ast.Starred])
        for keyword in node.keywords:
            if keyword.arg != "min_level" or name != "has_skill" or len(given) != 2:
                raise self.error(keyword, self._keyword_problem(name, keyword.arg))
            given.append(keyword.value)
        required = _REQUIRED.get(name, len(parameters))
        if not required <= len(given) <= len(parameters):
            expected = (
                f"{required} or {len(parameters)}" if required < len(parameters) else required
            )
            plural = "" if expected == 1 else "s"
            raise self.error(
                node,
                f"{name}() takes {expected} argument{plural} "
                f"({', '.join(parameters)}), not {len(given)}",
            )
        return [self.compile(arg) for arg in given]

    @staticmethod
    def _keyword_problem(name: str, keyword: str | None) -> str:
        if keyword is None:
            return "keyword argument unpacking (**) is not allowed"
        if name != "has_skill":
            return f"{name}() takes no keyword arguments"
        if keyword == "min_level":
            return "has_skill() takes min_level once, after agent and name"
        return f"unknown keyword argument {keyword!r} for has_skill(); only min_level is allowed"

    # --- positions: ast columns are UTF-8 byte offsets within a line of the stripped text ---

    def error(self, node: ast.expr | ast.keyword, message: str) -> ExpressionError:
        return ExpressionError(self.source, self._node_offset(node), message)

    def _node_offset(self, node: ast.expr | ast.keyword) -> int:
        return self._offset(node.lineno, node.col_offset)

    def _attribute_offset(self, node: ast.Attribute) -> int:
        """The column of the attribute name itself (``item.__class__`` -> 5)."""
        end = self._offset(node.end_lineno or node.lineno, node.end_col_offset or 0)
        return end - len(node.attr)

    def _operator_offset(self, left: ast.expr, right: ast.expr) -> int:
        """The column of the operator between two operands, past blanks and closing parentheses."""
        start = self._offset(left.end_lineno or left.lineno, left.end_col_offset or 0)
        between = self.source[start : self._node_offset(right)]
        return start + len(between) - len(between.lstrip(" \t\r\n)"))

    def _offset(self, lineno: int, column: int, *, in_bytes: bool = True) -> int:
        """The 0-based character offset in ``source`` of a (1-based line, column) of the text."""
        lines = io.StringIO(self.text, newline="").readlines() or [""]
        if lineno > len(lines) or column < 0:
            return len(self.source)
        line = lines[lineno - 1]
        if in_bytes:
            column = len(line.encode()[:column].decode(errors="ignore"))
        return self.indent + sum(map(len, lines[: lineno - 1])) + min(column, len(line))
