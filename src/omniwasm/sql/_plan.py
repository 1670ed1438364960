"""Which exports become which SQL functions: names, kinds, types, NULL handling.

A component's exported functions are typed by its WIT; a core module's by the
``omniwasm:signatures`` section (or, for all-numeric exports, by their core types). Each
becomes a ``Plan``:

- ``scalar``: one call per row;
- ``batch``: one call per batch of rows: a core ``batch`` function (the columnar ABI), or a
  component function whose parameters are all ``list<T>`` and whose result is a ``list<U>``
  (``list<u8>`` is a BLOB, not a list of bytes);
- ``aggregate``: an exported resource with a constructor without parameters, a ``step``
  method and a ``finalize`` method returning the value (``merge`` is optional).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from .._compiled import Compiled
from .._coreabi import CoreSignature, check_lowering, core_signatures, parse_signatures
from .._errors import InvalidModule
from .._wit.types import (
    BorrowType,
    FuncSig,
    InterfaceType,
    ListType,
    OptionType,
    OwnType,
    ResultType,
    WitType,
)
from .._wit.values import snake
from ._sqltypes import is_blob, supported

__all__ = ["Aggregate", "Plan", "plan_functions"]

_HELPERS = frozenset({"omniwasm_scratch", "cabi_realloc", "_start", "_initialize"})
_NONDETERMINISTIC = ("wasi:random", "wasi:clocks")
_NONDETERMINISTIC_CORE = frozenset({"random_get", "clock_time_get", "clock_res_get"})


@dataclass(frozen=True, slots=True)
class Aggregate:
    """An exported resource used as an aggregate: its member functions' export names."""

    constructor: str
    step: str
    finalize: str
    merge: str | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """How one export is called as one SQL function.

    Args:
        name: the SQL function's name.
        export: the export to call (``iface#func`` for component interface functions).
        kind: ``scalar``, ``batch`` or ``aggregate``.
        params: ``(name, WIT type)`` per SQL argument (the element types for a batch).
        result: the SQL result's WIT type (a ``result``'s ok type, a batch's element type).
        fallible: the export returns ``result<T, E>``: ``err`` fails the statement.
        deterministic: the same arguments always give the same result.
        core: the core signature, for a core module's export.
        aggregate: the member functions, for an aggregate.
        signature: the export's signature as written in WIT.

    """

    name: str
    export: str
    kind: Literal["scalar", "batch", "aggregate"]
    params: tuple[tuple[str, WitType], ...]
    result: WitType
    fallible: bool = False
    deterministic: bool = True
    core: CoreSignature | None = None
    aggregate: Aggregate | None = None
    signature: str = ""
    nulls: bool = field(init=False)

    def __post_init__(self) -> None:
        # NULLs cross into or out of the function: an option parameter or result, or a core
        # batch function (its result may carry a validity bitmap).
        nulls = (
            any(isinstance(ty, OptionType) for _, ty in self.params)
            or isinstance(self.result, OptionType)
            or (self.kind == "batch" and self.core is not None)
        )
        object.__setattr__(self, "nulls", nulls)


def _sql_name(name: str) -> str:
    return snake(name).rstrip("_") or name


def plan_functions(
    compiled: Compiled,
    *,
    functions: Iterable[str] | None = None,
    names: Mapping[str, str] | None = None,
    deterministic: bool | None = None,
    vectorized: bool | Collection[str] | None = None,
    signatures: Iterable[str] | str | None = None,
) -> tuple[list[Plan], dict[str, str]]:
    """Plan the SQL functions of ``compiled``; also returns the skipped exports with why.

    Raises:
        InvalidModule: a wanted function cannot be registered (the message says why), two
            exports get the same SQL name, or a signature does not fit its export.

    """
    if deterministic is None:
        deterministic = _deterministic(compiled)
    if compiled.kind == "component":
        plans, skipped = _component_plans(compiled, deterministic, vectorized)
    else:
        plans, skipped = _core_plans(compiled, deterministic, signatures)
    names = dict(names or {})
    wanted = list(functions) if functions is not None else None
    chosen: list[Plan] = []
    by_export = {p.export: p for p in plans}
    by_short: dict[str, list[Plan]] = {}
    for p in plans:
        by_short.setdefault(p.export.rpartition("#")[2], []).append(p)
        by_short.setdefault(p.name, []).append(p)
    if wanted is None:
        chosen = plans
    else:
        for w in wanted:
            found = by_export.get(w) or _unique(by_short.get(w, []), w)
            if found is None:
                why = skipped.get(w) or next(
                    (r for k, r in skipped.items() if k.rpartition("#")[2] == w), None
                )
                raise InvalidModule(
                    f"cannot register {w!r} as a SQL function: {why or 'no such export'}",
                    source=compiled.source,
                )
            chosen.append(found)
    out: list[Plan] = []
    seen: dict[str, str] = {}
    for plan in chosen:
        short = plan.export.rpartition("#")[2]
        new = names.get(plan.export) or names.get(short) or names.get(plan.name)
        p = dataclasses.replace(plan, name=new) if new else plan
        if p.name.lower() in seen:
            raise InvalidModule(
                f"{seen[p.name.lower()]!r} and {p.export!r} would both be the SQL function "
                f"{p.name!r}: name one of them with names={{...}}",
                source=compiled.source,
            )
        seen[p.name.lower()] = p.export
        out.append(p)
    return out, skipped


def _unique(plans: list[Plan], wanted: str) -> Plan | None:
    if len(plans) > 1 and len({p.export for p in plans}) > 1:
        options = ", ".join(sorted({p.export for p in plans}))
        raise InvalidModule(f"{wanted!r} is ambiguous: name one of {options}")
    return plans[0] if plans else None


def _deterministic(compiled: Compiled) -> bool:
    """No clock or random source among the imports."""
    for imp in compiled.imports:
        if compiled.kind == "component":
            if imp.module.startswith(_NONDETERMINISTIC):
                return False
        elif imp.name in _NONDETERMINISTIC_CORE:
            return False
    return True


def _core_plans(
    compiled: Compiled, deterministic: bool, extra: Iterable[str] | str | None
) -> tuple[list[Plan], dict[str, str]]:
    sigs = core_signatures(compiled)
    if extra is not None:
        text = extra if isinstance(extra, str) else "\n".join(extra)
        for sig in parse_signatures(text):
            sigs[sig.name] = sig
    rendered = {e.name: e.type for e in compiled.exports}
    plans: list[Plan] = []
    skipped: dict[str, str] = {}
    for name, ty in rendered.items():
        if not ty.startswith("func") or name in _HELPERS:
            continue
        found = sigs.get(name)
        if found is None:
            skipped[name] = (
                f"its core type {ty} needs a declaration in the omniwasm:signatures section "
                "(or signatures=...)"
            )
            continue
        sig = found
        check_lowering(sig, ty)
        kind: Literal["scalar", "batch"] = "batch" if sig.batch else "scalar"
        plans.append(
            Plan(
                _sql_name(name),
                name,
                kind,
                sig.params,
                sig.result,
                deterministic=deterministic,
                core=sig,
                signature=str(sig),
            )
        )
    return plans, skipped


def _component_plans(
    compiled: Compiled, deterministic: bool, vectorized: bool | Collection[str] | None
) -> tuple[list[Plan], dict[str, str]]:
    plans: list[Plan] = []
    skipped: dict[str, str] = {}
    for item in compiled.world.exports:
        if isinstance(item, FuncSig):
            _component_func(
                item,
                item.name,
                deterministic=deterministic,
                vectorized=vectorized,
                plans=plans,
                skipped=skipped,
            )
            continue
        if not isinstance(item, InterfaceType):
            continue
        for fn in item.funcs:
            if fn.name.startswith("["):
                continue
            export = f"{item.name}#{fn.name}"
            _component_func(
                fn,
                export,
                deterministic=deterministic,
                vectorized=vectorized,
                plans=plans,
                skipped=skipped,
            )
        for res in item.resources:
            _aggregate(item, res, deterministic, plans, skipped)
    return plans, skipped


def _is_column_list(ty: WitType | None) -> bool:
    return isinstance(ty, ListType) and not is_blob(ty)


def _component_func(
    fn: FuncSig,
    export: str,
    *,
    deterministic: bool,
    vectorized: bool | Collection[str] | None,
    plans: list[Plan],
    skipped: dict[str, str],
) -> None:
    result = fn.result
    fallible = isinstance(result, ResultType)
    if isinstance(result, ResultType):
        result = result.ok
    if result is None:
        skipped[export] = "it returns nothing (a SQL function returns a value)"
        return
    bad = [n for n, ty in fn.params if not supported(ty)]
    if bad or not supported(result):
        what = ", ".join(bad) if bad else "its result"
        skipped[export] = f"{what} has no SQL type (resources cannot cross into SQL)"
        return
    short = export.rpartition("#")[2]
    as_batch = (
        fn.params and all(_is_column_list(ty) for _, ty in fn.params) and _is_column_list(result)
    )
    if vectorized is False or (
        isinstance(vectorized, Collection)
        and not isinstance(vectorized, bool)
        and export not in vectorized
        and short not in vectorized
    ):
        as_batch = False
    if as_batch:
        params = tuple((snake(n), _elem(ty)) for n, ty in fn.params)
        plans.append(
            Plan(
                _sql_name(short),
                export,
                "batch",
                params,
                _elem(result),
                fallible,
                deterministic,
                signature=str(fn),
            )
        )
        return
    plans.append(
        Plan(
            _sql_name(short),
            export,
            "scalar",
            tuple((snake(n), ty) for n, ty in fn.params),
            result,
            fallible,
            deterministic,
            signature=str(fn),
        )
    )


def _aggregate(
    iface: InterfaceType,
    res: str,
    deterministic: bool,
    plans: list[Plan],
    skipped: dict[str, str],
) -> None:
    members = {f.name: f for f in iface.funcs}
    ctor = members.get(f"[constructor]{res}")
    step = members.get(f"[method]{res}.step")
    fin = members.get(f"[method]{res}.finalize")
    merge = members.get(f"[method]{res}.merge")
    export = f"{iface.name}#{res}"
    if ctor is None or step is None or fin is None or ctor.params:
        skipped[export] = (
            "a resource is an aggregate when it has a constructor without parameters, "
            "a step method and a finalize method"
        )
        return
    result = fin.result
    fallible = isinstance(result, ResultType)
    if isinstance(result, ResultType):
        result = result.ok
    params = tuple((snake(n), ty) for n, ty in step.params[1:])
    if result is None or not supported(result) or not all(supported(t) for _, t in params):
        skipped[export] = "its step parameters or finalize result have no SQL type"
        return
    if merge is not None and not (
        len(merge.params) == 2 and isinstance(merge.params[1][1], BorrowType | OwnType)
    ):
        merge = None
    prefix = f"{iface.name}#"
    plans.append(
        Plan(
            _sql_name(res),
            export,
            "aggregate",
            params,
            result,
            fallible,
            deterministic,
            aggregate=Aggregate(
                prefix + ctor.name,
                prefix + step.name,
                prefix + fin.name,
                None if merge is None else prefix + merge.name,
            ),
            signature=f"resource {res} {{ {step}; {fin} }}",
        )
    )


def _elem(ty: WitType) -> WitType:
    """The element type of a column list (``_is_column_list`` said it is one)."""
    assert isinstance(ty, ListType)
    return ty.elem
