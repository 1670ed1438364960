"""WIT types as SQL types, and values between the two, for SQLite and DuckDB.

=====================  ===================  ================================================
WIT                    SQLite               DuckDB
=====================  ===================  ================================================
``bool``               INTEGER 0/1          BOOLEAN
``s8 s16 s32 s64``     INTEGER              TINYINT SMALLINT INTEGER BIGINT
``u8 u16 u32 u64``     INTEGER              UTINYINT USMALLINT UINTEGER UBIGINT
``f32 f64``            REAL                 FLOAT DOUBLE
``char string``        TEXT                 VARCHAR
``list<u8>``           BLOB                 BLOB
``option<T>``          T or NULL            T or NULL
``list<T>``            TEXT (JSON array)    T[]
``record``             TEXT (JSON object)   STRUCT (fields in snake_case)
``enum``               TEXT (the case)      VARCHAR (the case)
``flags``              TEXT (JSON array)    VARCHAR[]
``tuple variant``      TEXT (JSON)          VARCHAR (JSON)
``result<T, E>``       T; ``err`` fails the statement (nested in other types: JSON)
=====================  ===================  ================================================

JSON forms: a record is an object keyed by snake_case field names, a list or tuple an array,
``list<u8>`` an array of numbers, an option ``null`` or its value, an enum its case, flags an
array of names, a variant ``{"case": payload}`` (or ``"case"`` without a payload), a result
``{"ok": value}`` / ``{"err": value}``. Resources have no SQL form.
"""

from __future__ import annotations

import enum
import json
import math
from typing import Any

from .._errors import ValueConversionError
from .._wit.types import (
    BoolType,
    CharType,
    EnumType,
    F32Type,
    F64Type,
    FlagsType,
    IntType,
    ListType,
    OptionType,
    RecordType,
    ResultType,
    StringType,
    TupleType,
    U8Type,
    VariantType,
    WitType,
)
from .._wit.values import Err, Ok, Some, Variant, snake

__all__ = [
    "arrow_type",
    "duck_type",
    "from_duck",
    "from_sqlite",
    "is_blob",
    "sqlite_type",
    "supported",
    "to_duck",
    "to_sqlite",
]

_DUCK_INTS = {
    (8, True): "TINYINT",
    (16, True): "SMALLINT",
    (32, True): "INTEGER",
    (64, True): "BIGINT",
    (8, False): "UTINYINT",
    (16, False): "USMALLINT",
    (32, False): "UINTEGER",
    (64, False): "UBIGINT",
}
_I64_MAX = (1 << 63) - 1


def is_blob(ty: WitType) -> bool:
    """``list<u8>``: a BLOB, not a list."""
    return isinstance(ty, ListType) and isinstance(ty.elem, U8Type)


def supported(ty: WitType) -> bool:
    """Whether values of ``ty`` have a SQL form (everything but resources)."""
    if isinstance(ty, ListType):
        return supported(ty.elem)
    if isinstance(ty, OptionType):
        return supported(ty.inner)
    if isinstance(ty, TupleType):
        return all(supported(i) for i in ty.items)
    if isinstance(ty, RecordType):
        return all(supported(f) for _, f in ty.fields)
    if isinstance(ty, VariantType):
        return all(p is None or supported(p) for _, p in ty.cases)
    if isinstance(ty, ResultType):
        return all(p is None or supported(p) for p in (ty.ok, ty.err))
    return isinstance(
        ty,
        BoolType | IntType | F32Type | F64Type | CharType | StringType | EnumType | FlagsType,
    )


def _json_typed(ty: WitType) -> bool:
    """Types that DuckDB carries as JSON text (no native form)."""
    return isinstance(ty, TupleType | VariantType | ResultType)


# --- type names -----------------------------------------------------------------------------


def sqlite_type(ty: WitType) -> str:
    """The SQLite storage class of a value of ``ty`` (for documentation and ``SqlFunction``)."""
    if isinstance(ty, OptionType):
        return sqlite_type(ty.inner)
    if isinstance(ty, BoolType | IntType):
        return "INTEGER"
    if isinstance(ty, F32Type | F64Type):
        return "REAL"
    if is_blob(ty):
        return "BLOB"
    return "TEXT"


def duck_type(ty: WitType) -> str:
    """The DuckDB type of ``ty``, e.g. ``BIGINT``, ``VARCHAR[]``, ``STRUCT("a" INTEGER)``."""
    if isinstance(ty, OptionType):
        return duck_type(ty.inner)
    if isinstance(ty, BoolType):
        return "BOOLEAN"
    if isinstance(ty, IntType):
        return _DUCK_INTS[ty.bits, ty.signed]
    if isinstance(ty, F32Type):
        return "FLOAT"
    if isinstance(ty, F64Type):
        return "DOUBLE"
    if is_blob(ty):
        return "BLOB"
    if isinstance(ty, ListType):
        return f"{duck_type(ty.elem)}[]"
    if isinstance(ty, FlagsType):
        return "VARCHAR[]"
    if isinstance(ty, RecordType):
        fields = ", ".join(f'"{snake(n)}" {duck_type(f)}' for n, f in ty.fields)
        return f"STRUCT({fields})"
    return "VARCHAR"


def arrow_type(ty: WitType) -> Any:
    """The pyarrow type DuckDB's Arrow UDFs use for ``duck_type(ty)``."""
    import pyarrow as pa

    if isinstance(ty, OptionType):
        return arrow_type(ty.inner)
    if isinstance(ty, BoolType):
        return pa.bool_()
    if isinstance(ty, IntType):
        return getattr(pa, f"{'int' if ty.signed else 'uint'}{ty.bits}")()
    if isinstance(ty, F32Type):
        return pa.float32()
    if isinstance(ty, F64Type):
        return pa.float64()
    if is_blob(ty):
        return pa.binary()
    if isinstance(ty, ListType):
        return pa.list_(arrow_type(ty.elem))
    if isinstance(ty, FlagsType):
        return pa.list_(pa.string())
    if isinstance(ty, RecordType):
        return pa.struct([(snake(n), arrow_type(f)) for n, f in ty.fields])
    return pa.string()


# --- JSON -----------------------------------------------------------------------------------


def to_json(value: Any, ty: WitType) -> Any:
    """A guest value as JSON-ready Python data (see the module docstring)."""
    if isinstance(ty, OptionType):
        if value is None:
            return None
        return to_json(value.value if isinstance(value, Some) else value, ty.inner)
    if isinstance(ty, F32Type | F64Type):
        return value if math.isfinite(value) else None
    if is_blob(ty):
        return list(value)
    if isinstance(ty, ListType):
        return [to_json(v, ty.elem) for v in value]
    if isinstance(ty, TupleType):
        return [to_json(v, i) for v, i in zip(value, ty.items, strict=True)]
    if isinstance(ty, RecordType):
        return {snake(n): to_json(getattr(value, snake(n)), f) for n, f in ty.fields}
    if isinstance(ty, EnumType):
        return _case(value)
    if isinstance(ty, FlagsType):
        return [n for n in ty.names if n in value]
    if isinstance(ty, VariantType):
        payload = dict(ty.cases)[value.case]
        return value.case if payload is None else {value.case: to_json(value.value, payload)}
    if isinstance(ty, ResultType):
        if isinstance(value, Err):
            return {"err": None if ty.err is None else to_json(value.value, ty.err)}
        inner = value.value if isinstance(value, Ok) else value
        return {"ok": None if ty.ok is None else to_json(inner, ty.ok)}
    return value


def from_json(data: Any, ty: WitType, function: str, param: str) -> Any:
    """JSON data (parsed) as a value ``omniwasm`` accepts for ``ty``.

    Raises:
        ValueConversionError: the data does not have the type's JSON form.

    """
    if isinstance(ty, OptionType):
        return None if data is None else from_json(data, ty.inner, function, param)
    if isinstance(ty, ListType) and not is_blob(ty):
        if not isinstance(data, list):
            raise _bad(data, ty, function, param)
        return [from_json(v, ty.elem, function, f"{param}[{i}]") for i, v in enumerate(data)]
    if isinstance(ty, TupleType):
        if not isinstance(data, list) or len(data) != len(ty.items):
            raise _bad(data, ty, function, param)
        return tuple(
            from_json(v, i, function, f"{param}[{k}]")
            for k, (v, i) in enumerate(zip(data, ty.items, strict=True))
        )
    if isinstance(ty, RecordType):
        if not isinstance(data, dict):
            raise _bad(data, ty, function, param)
        out = {}
        for n, f in ty.fields:
            key = snake(n)
            raw = data.get(key, data.get(n))
            out[key] = from_json(raw, f, function, f"{param}.{key}")
        return out
    if isinstance(ty, VariantType):
        if isinstance(data, str):
            return Variant(data)
        if isinstance(data, dict) and len(data) == 1:
            (case, payload), cases = next(iter(data.items())), dict(ty.cases)
            pty = cases.get(case)
            sub = f"{param}({case})"
            return Variant(case, None if pty is None else from_json(payload, pty, function, sub))
        raise _bad(data, ty, function, param)
    if isinstance(ty, ResultType):
        if isinstance(data, dict) and len(data) == 1 and ("ok" in data or "err" in data):
            side = "ok" if "ok" in data else "err"
            pty = ty.ok if side == "ok" else ty.err
            value = None if pty is None else from_json(data[side], pty, function, param)
            return Ok(value) if side == "ok" else Err(value)
        raise _bad(data, ty, function, param)
    if is_blob(ty):
        if isinstance(data, list):
            try:
                return bytes(data)
            except (TypeError, ValueError):
                pass
        raise _bad(data, ty, function, param)
    return data  # scalars, enums (case names) and flags (name lists) as they are


def _bad(data: Any, ty: WitType, function: str, param: str) -> ValueConversionError:
    text = json.dumps(data)
    return ValueConversionError(
        function, param, str(ty), text if len(text) < 60 else text[:57] + "..."
    )


def _case(value: Any) -> str:
    return str(value.value) if isinstance(value, enum.Enum) else str(value)


# --- SQLite ---------------------------------------------------------------------------------


def from_sqlite(value: Any, ty: WitType, function: str, param: str) -> Any:
    """A SQLite value as an argument of type ``ty`` (the façade checks it further).

    Raises:
        ValueConversionError: TEXT that should hold JSON does not parse.

    """
    if value is None:
        return None
    if isinstance(ty, OptionType):
        ty = ty.inner
    if isinstance(ty, BoolType) and type(value) is int and value in (0, 1):
        return bool(value)
    if isinstance(ty, F32Type | F64Type) and type(value) is int:
        return float(value)
    if _json_sqlite(ty):
        if not isinstance(value, str):
            raise ValueConversionError(function, param, f"{ty} as JSON text", repr(value)[:60])
        try:
            data = json.loads(value)
        except ValueError:
            raise ValueConversionError(
                function, param, f"{ty} as JSON text", repr(value)[:60]
            ) from None
        return from_json(data, ty, function, param)
    return value


def _json_sqlite(ty: WitType) -> bool:
    if isinstance(ty, ListType):
        return not is_blob(ty)
    return isinstance(ty, RecordType | TupleType | VariantType | FlagsType | ResultType)


def to_sqlite(value: Any, ty: WitType, function: str) -> Any:
    """A result of type ``ty`` as a SQLite value.

    Raises:
        ValueConversionError: a ``u64`` above SQLite's INTEGER range.

    """
    if value is None:
        return None
    if isinstance(ty, OptionType):
        return to_sqlite(value.value if isinstance(value, Some) else value, ty.inner, function)
    if isinstance(ty, BoolType):
        return int(value)
    if isinstance(ty, IntType):
        if value > _I64_MAX:
            raise ValueConversionError(
                function, "result", "an INTEGER (at most 2**63-1)", str(value)
            )
        return value
    if isinstance(ty, EnumType):
        return _case(value)
    if is_blob(ty) or not _json_sqlite(ty):
        return value
    return json.dumps(to_json(value, ty), ensure_ascii=False)


# --- DuckDB ---------------------------------------------------------------------------------


def from_duck(value: Any, ty: WitType, function: str, param: str) -> Any:
    """A DuckDB value (from ``to_pylist``) as an argument of type ``ty``.

    Raises:
        ValueConversionError: VARCHAR that should hold JSON does not parse.

    """
    if value is None:
        return None
    if isinstance(ty, OptionType):
        return from_duck(value, ty.inner, function, param)
    if _json_typed(ty):
        try:
            data = json.loads(value)
        except (TypeError, ValueError):
            raise ValueConversionError(
                function, param, f"{ty} as JSON text", repr(value)[:60]
            ) from None
        return from_json(data, ty, function, param)
    if isinstance(ty, ListType) and not is_blob(ty):
        return [from_duck(v, ty.elem, function, f"{param}[{i}]") for i, v in enumerate(value)]
    if isinstance(ty, RecordType):
        return {snake(n): from_duck(value.get(snake(n)), f, function, param) for n, f in ty.fields}
    return value


def to_duck(value: Any, ty: WitType) -> Any:
    """A result of type ``ty`` as a Python value ``pyarrow.array(..., arrow_type(ty))`` takes."""
    if value is None:
        return None
    if isinstance(ty, OptionType):
        return to_duck(value.value if isinstance(value, Some) else value, ty.inner)
    if _json_typed(ty):
        return json.dumps(to_json(value, ty), ensure_ascii=False)
    if is_blob(ty):
        return bytes(value)
    if isinstance(ty, ListType):
        return [to_duck(v, ty.elem) for v in value]
    if isinstance(ty, RecordType):
        return {snake(n): to_duck(getattr(value, snake(n)), f) for n, f in ty.fields}
    if isinstance(ty, EnumType):
        return _case(value)
    if isinstance(ty, FlagsType):
        return [n for n in ty.names if n in value]
    return value
