"""The small, safe expression language of device profiles.

Profiles (``checks/profiles/*.yaml``) compute metrics and decide conditions with one-line expressions
such as ``upsEstimatedMinutesRemaining * 60``, ``upsOutputSource == 5``,
``input.voltage < device.input_voltage_min`` or ``delta(spd.strikes) > 0``. They are parsed with
Python's :mod:`ast` and evaluated by walking a whitelist of node types — never ``eval``: no attribute
access on objects, no subscripts, no lambdas, no imports, no ``**``. Dotted names (``battery.charge``)
are metric names, not attribute access.

Semantics chosen for device data, where values are often absent:

* a name whose value is absent raises :class:`Missing`; arithmetic and comparisons on it propagate
  it, so a metric is simply omitted and a condition is simply not met (never a crash, never "down");
* in ``a and b`` / ``a or b`` an absent operand counts as false;
* division by zero is :class:`Missing` too.

Functions that take a *name* rather than a value (``prev``, ``delta``, ``went_back``, ``changed``,
``exists``, ``label``) are resolved by the scope, which knows the previous sample and enum labels.
"""

from __future__ import annotations

import ast
import fnmatch
import math
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["NAME_FUNCTIONS", "VALUE_FUNCTIONS", "Column", "Expr", "ExprError", "Missing", "Scope", "compile_expr",
           "render_template"]


class ExprError(ValueError):
    """An expression is not valid (raised when a profile is loaded)."""


class Missing(Exception):  # a signal, not an error
    """A value the expression needs is absent (no such object, no previous sample...)."""


class Column(dict[str, Any]):
    """A walked table column: row index (the OID suffix, e.g. ``"1"`` or ``"65536"``) -> value, in OID order."""


class Scope(Protocol):
    """What an expression can see. ``lookup`` raises :class:`Missing` for an absent value."""

    def lookup(self, name: str) -> Any: ...

    def name_function(self, func: str, name: str) -> Any: ...


NAME_FUNCTIONS = frozenset({"prev", "delta", "went_back", "restarted", "changed", "exists", "label"})


def _values(args: tuple[Any, ...]) -> list[Any]:
    if len(args) == 1 and isinstance(args[0], Column):
        return [v for v in args[0].values() if v is not None]
    if len(args) == 1 and isinstance(args[0], list | tuple):
        return [v for v in args[0] if v is not None]
    return [a for a in args if a is not None]


def _need(values: list[Any]) -> list[Any]:
    if not values:
        raise Missing("no values")
    return values


def _first(*args: Any) -> Any:
    return _need(_values(args))[0]


def _last(*args: Any) -> Any:
    return _need(_values(args))[-1]


def _avg(*args: Any) -> float:
    vals = _need(_values(args))
    return float(sum(vals)) / len(vals)


def _nonzero(col: Any) -> Any:
    """The rows that are not 0 (a column), or the value itself when it is not 0 (a scalar: 0 often means
    "no sensor")."""
    if not isinstance(col, Column):
        if col in (0, None):
            raise Missing("nonzero(): 0")
        return col
    return Column({k: v for k, v in col.items() if v not in (0, None)})


def _flag(flags: Any, name: Any) -> bool:
    return isinstance(flags, str) and str(name) in flags.split()


def _matches(value: Any, patterns: Any) -> bool:
    if isinstance(patterns, str):
        patterns = [patterns]
    return any(fnmatch.fnmatchcase(str(value), str(p)) for p in patterns or ())


def _pick(col: Any, key_col: Any, key: Any) -> Any:
    """The value of ``col`` in the row where ``key_col`` equals ``key`` — a join between two tables that
    share a key (hrFSTable rows name their hrStorageTable row in hrFSStorageIndex)."""
    if not isinstance(col, Column) or not isinstance(key_col, Column):
        raise Missing("pick() needs two table columns")
    for index, value in key_col.items():
        if value == key or str(value) == str(key):
            found = col.get(index)
            if found is None:
                raise Missing("pick(): no value in that row")
            return found
    raise Missing("pick(): no such row")


def _where(col: Any, key_col: Any, *keys: Any) -> Column:
    """The rows of ``col`` whose ``key_col`` value is one of ``keys`` (connected probes, contacts in alarm);
    a key may be a ``*`` pattern (a sensor id under an OID subtree)."""
    if not isinstance(col, Column) or not isinstance(key_col, Column):
        raise Missing("where() needs two table columns")
    wanted = [str(k) for k in keys]
    return Column({i: v for i, v in col.items() if _matches(key_col.get(i), wanted)})


def _countif(col: Any, *values: Any) -> int:
    """How many rows of a column (or items of a tuple) equal one of ``values``; absent for an empty column (the
    table is not there: nothing was read, which is not "none in alarm")."""
    if isinstance(col, Column):
        if not col:
            raise Missing("countif(): empty column")
        items = list(col.values())
    elif isinstance(col, list | tuple):
        items = list(col)
    else:
        raise Missing("countif() needs a table column")
    wanted = {str(v) for v in values}
    return sum(1 for v in items if str(v) in wanted)


def _join(*cols: Any) -> str:
    """The values of every column given (absent ones skipped), joined with ", "; absent when there are none."""
    values: list[Any] = []
    for col in cols:
        if isinstance(col, Column):
            values += list(col.values())
        elif isinstance(col, list | tuple):
            values += list(col)
        elif col is not None:
            values.append(col)
    values = [v for v in values if v is not None and str(v) != ""]
    if not values:
        raise Missing("join(): nothing")
    return ", ".join(str(v) for v in values)


def _round(value: Any, ndigits: Any = 0) -> float | int:
    result = round(float(value), int(ndigits))
    return int(result) if int(ndigits) == 0 else result


VALUE_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": lambda *a: min(_need(_values(a))),
    "max": lambda *a: max(_need(_values(a))),
    "sum": lambda *a: sum(_need(_values(a))),
    "avg": _avg,
    "count": lambda *a: len(_values(a)),
    "first": _first,
    "last": _last,
    "nonzero": _nonzero,
    "flag": _flag,
    "matches": _matches,
    "round": _round,
    "pick": _pick,
    "where": _where,
    "countif": _countif,
    "join": _join,
    "abs": abs,
    "int": int,
    "float": float,
    "str": str,
    "len": len,
    "lower": lambda s: str(s).lower(),
}

_LAZY_FUNCTIONS = frozenset({"coalesce"})
_AGGREGATES = frozenset({"min", "max", "sum", "avg", "count", "first", "last", "join"})
_ALL_FUNCTIONS = NAME_FUNCTIONS | set(VALUE_FUNCTIONS) | _LAZY_FUNCTIONS

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
}
_CMPOPS: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: a in (b.values() if isinstance(b, Column) else b),
    ast.NotIn: lambda a, b: a not in (b.values() if isinstance(b, Column) else b),
}
_MAX_SOURCE = 500


def _dotted(node: ast.expr) -> str | None:
    """``battery.charge`` (an Attribute chain over a Name) -> ``"battery.charge"``."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


@dataclass(frozen=True)
class Expr:
    """A compiled expression. ``names`` lists every name it reads (for validation)."""

    source: str
    tree: ast.expr = field(repr=False, compare=False)
    names: frozenset[str] = frozenset()

    def eval(self, scope: Scope) -> Any:
        """The value; raises :class:`Missing` when something it needs is absent."""
        return _eval(self.tree, scope)

    def value(self, scope: Scope) -> Any:
        """The value, or None when something it needs is absent (or the arithmetic is undefined)."""
        try:
            result = _eval(self.tree, scope)
        except Missing:
            return None
        except (TypeError, ValueError, ArithmeticError):
            return None
        if isinstance(result, float) and not math.isfinite(result):
            return None
        return result

    def truth(self, scope: Scope) -> bool:
        """True only when the expression is true; absent values and type mismatches are false."""
        try:
            return bool(_eval(self.tree, scope))
        except (Missing, TypeError, ValueError, ArithmeticError):
            return False


def compile_expr(source: str | int | float | bool) -> Expr:
    """Parse and check ``source``; raises :class:`ExprError` with a readable message."""
    if isinstance(source, bool | int | float):
        source = repr(source)
    text = str(source).strip()
    if not text:
        raise ExprError("empty expression")
    if len(text) > _MAX_SOURCE:
        raise ExprError(f"expression longer than {_MAX_SOURCE} characters")
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError as exc:
        raise ExprError(f"invalid expression {text!r}: {exc.msg}") from None
    names: set[str] = set()
    _check(tree, names, text)
    return Expr(text, tree, frozenset(names))


def _check(node: ast.AST, names: set[str], text: str) -> None:
    if isinstance(node, ast.Attribute | ast.Name):
        dotted = _dotted(node)
        if dotted is None:
            raise ExprError(f"in {text!r}: only plain and dotted names are allowed")
        if dotted in ("True", "False"):
            return
        if any(part.startswith("_") for part in dotted.split(".")):
            raise ExprError(f"in {text!r}: names may not start with '_'")
        names.add(dotted)
        return
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, int | float | str | bool):
            raise ExprError(f"in {text!r}: constant {node.value!r} is not allowed")
        return
    if isinstance(node, ast.Call):
        fname = node.func.id if isinstance(node.func, ast.Name) else None
        if fname not in _ALL_FUNCTIONS or node.keywords:
            raise ExprError(f"in {text!r}: unknown function {ast.unparse(node.func)!r} "
                            f"(known: {', '.join(sorted(_ALL_FUNCTIONS))})")
        if fname in NAME_FUNCTIONS:
            if len(node.args) != 1 or _dotted(node.args[0]) is None:
                raise ExprError(f"in {text!r}: {fname}() takes one metric or object name")
            names.add(_dotted(node.args[0]) or "")
            return
        for arg in node.args:
            _check(arg, names, text)
        return
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS:
            raise ExprError(f"in {text!r}: operator {type(node.op).__name__} is not allowed")
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.Not | ast.USub | ast.UAdd):
            raise ExprError(f"in {text!r}: operator {type(node.op).__name__} is not allowed")
    elif isinstance(node, ast.Compare):
        if any(type(op) not in _CMPOPS for op in node.ops):
            raise ExprError(f"in {text!r}: comparison {node.ops!r} is not allowed")
    elif not isinstance(node, ast.BoolOp | ast.IfExp | ast.Tuple | ast.List | ast.boolop | ast.expr_context
                        | ast.operator | ast.unaryop | ast.cmpop):
        raise ExprError(f"in {text!r}: {type(node).__name__} is not allowed")
    for child in ast.iter_child_nodes(node):
        _check(child, names, text)


def _eval(node: ast.expr, scope: Scope) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name | ast.Attribute):
        name = _dotted(node) or ""
        if name == "True":
            return True
        if name == "False":
            return False
        value = scope.lookup(name)
        if value is None:
            raise Missing(name)
        return value
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, scope), _eval(node.right, scope)
        try:
            return _BINOPS[type(node.op)](left, right)
        except ZeroDivisionError:
            raise Missing("division by zero") from None
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, scope)
        if isinstance(node.op, ast.Not):
            return not operand
        return -operand if isinstance(node.op, ast.USub) else +operand
    if isinstance(node, ast.BoolOp):
        is_and = isinstance(node.op, ast.And)
        result: Any = is_and
        for value_node in node.values:
            try:
                result = _eval(value_node, scope)
            except Missing:
                result = False
            if is_and and not result:
                return result
            if not is_and and result:
                return result
        return result
    if isinstance(node, ast.Compare):
        left = _eval(node.left, scope)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = _eval(comp, scope)
            if not _CMPOPS[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return _eval(node.body, scope) if _eval(node.test, scope) else _eval(node.orelse, scope)
    if isinstance(node, ast.Tuple | ast.List):
        return tuple(_eval(e, scope) for e in node.elts)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        fname = node.func.id
        if fname in NAME_FUNCTIONS:
            result = scope.name_function(fname, _dotted(node.args[0]) or "")
            if result is None:
                raise Missing(f"{fname}()")
            return result
        if fname == "coalesce":
            for arg in node.args:
                try:
                    return _eval(arg, scope)
                except Missing:
                    continue
            raise Missing("coalesce()")
        if fname in _AGGREGATES:
            # an absent argument is skipped: max(load1, load2, load3) on a one-phase UPS is load1
            args = tuple(_eval_or_none(a, scope) for a in node.args)
        else:
            args = tuple(_eval(a, scope) for a in node.args)
        return VALUE_FUNCTIONS[fname](*args)
    raise Missing(f"unsupported node {type(node).__name__}")  # unreachable after _check


def _eval_or_none(node: ast.expr, scope: Scope) -> Any:
    try:
        return _eval(node, scope)
    except Missing:
        return None


# ------------------------------------------------------------------------------------------ templates

def render_template(template: str, scope: Scope, fields: Mapping[str, Any] | None = None) -> str:
    """Fill ``{expression}`` or ``{expression:format}`` placeholders (``{{``/``}}`` for braces).

    ``fields`` are plain values (e.g. ``label`` of a table row) looked up before expressions.
    An absent value renders as ``?`` so a reason is never lost to a missing number.
    """
    out: list[str] = []
    for literal, expr_text, spec in _split_template(template):
        out.append(literal)
        if expr_text is None:
            continue
        if fields is not None and expr_text in fields:
            value: Any = fields[expr_text]
        else:
            value = _compiled(expr_text).value(scope)
        if value is None:
            out.append("?")
            continue
        try:
            out.append(format(value, spec or ""))
        except (TypeError, ValueError):
            out.append(str(value))
    return "".join(out)


def template_names(template: str) -> Iterable[str]:
    """Expressions used in a template (compiled, so a bad placeholder fails at profile load)."""
    for _literal, expr_text, _spec in _split_template(template):
        if expr_text is not None:
            yield expr_text


_CACHE: dict[str, Expr] = {}


def _compiled(text: str) -> Expr:
    expr = _CACHE.get(text)
    if expr is None:
        expr = compile_expr(text)
        if len(_CACHE) < 4096:
            _CACHE[text] = expr
    return expr


def _split_template(template: str) -> Iterable[tuple[str, str | None, str | None]]:
    i, n = 0, len(template)
    literal: list[str] = []
    while i < n:
        ch = template[i]
        if ch == "{" and template.startswith("{{", i):
            literal.append("{")
            i += 2
        elif ch == "}" and template.startswith("}}", i):
            literal.append("}")
            i += 2
        elif ch == "{":
            end = template.find("}", i)
            if end < 0:
                raise ExprError(f"unclosed '{{' in {template!r}")
            inner = template[i + 1:end]
            # a format spec follows the last ':' that is not inside quotes or parentheses
            expr_text, spec = _split_spec(inner)
            yield "".join(literal), expr_text.strip(), spec
            literal = []
            i = end + 1
        else:
            literal.append(ch)
            i += 1
    yield "".join(literal), None, None


def _split_spec(inner: str) -> tuple[str, str | None]:
    depth, quote = 0, ""
    for pos in range(len(inner) - 1, -1, -1):
        ch = inner[pos]
        if quote:
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch == ")":
            depth += 1
        elif ch == "(":
            depth -= 1
        elif ch == ":" and depth == 0:
            return inner[:pos], inner[pos + 1:]
    return inner, None
