"""Every supported WIT type both ways, in SQLite and in DuckDB (the echo component)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import pytest

import omniwasm
from omniwasm import sql

# (function, argument, result): SQLite arguments are bound as parameters.
SQLITE_CASES: list[tuple[str, Any, Any]] = [
    ("echo_bool", 1, 1),
    ("echo_bool", 0, 0),
    ("echo_s8", -128, -128),
    ("echo_s16", 32767, 32767),
    ("echo_s32", -(2**31), -(2**31)),
    ("echo_s64", -(2**63), -(2**63)),
    ("echo_u8", 255, 255),
    ("echo_u16", 65535, 65535),
    ("echo_u32", 2**32 - 1, 2**32 - 1),
    ("echo_u64", 2**63 - 1, 2**63 - 1),
    ("echo_f32", 1.5, 1.5),
    ("echo_f64", -2.25, -2.25),
    ("echo_f64", 3, 3.0),
    ("echo_char", "é", "é"),
    ("echo_string", "héllo ☃", "héllo ☃"),
    ("echo_string_utf16", "héllo ☃", "héllo ☃"),
    ("echo_string_latin1", "déjà", "déjà"),
    ("echo_list_u8", b"\x00\xff", b"\x00\xff"),
    ("echo_list_u32", "[1, 4294967295]", "[1, 4294967295]"),
    ("echo_list_string", '["a", "é"]', '["a", "é"]'),
    ("echo_point", '{"x": 1, "y": -2, "label_text": "p"}', '{"x": 1, "y": -2, "label_text": "p"}'),
    (
        "echo_list_point",
        '[{"x": 1, "y": 2, "label_text": ""}]',
        '[{"x": 1, "y": 2, "label_text": ""}]',
    ),
    ("echo_tuple", '[7, "t", 0.5]', '[7, "t", 0.5]'),
    ("echo_shape", '{"circle": 2.0}', '{"circle": 2.0}'),
    ("echo_shape", '"empty"', '"empty"'),
    ("echo_color", "blue-ish", "blue-ish"),
    ("echo_perms", '["exec", "read"]', '["read", "exec"]'),
    ("echo_option_string", None, None),
    ("echo_option_string", "x", "x"),
    ("echo_option_option_u32", None, None),
    ("echo_option_option_u32", 5, 5),
    ("echo_result_string_string", '{"ok": "fine"}', "fine"),
    ("echo_result_ok_u32", '{"ok": 3}', 3),
]

# (function, SQL argument expression, result)
DUCKDB_CASES: list[tuple[str, str, Any]] = [
    ("echo_bool", "true", True),
    ("echo_s8", "(-128)::TINYINT", -128),
    ("echo_s16", "32767::SMALLINT", 32767),
    ("echo_s32", "(-2147483648)::INTEGER", -(2**31)),
    ("echo_s64", "(-9223372036854775808)::BIGINT", -(2**63)),
    ("echo_u8", "255::UTINYINT", 255),
    ("echo_u16", "65535::USMALLINT", 65535),
    ("echo_u32", "4294967295::UINTEGER", 2**32 - 1),
    ("echo_u64", "18446744073709551615::UBIGINT", 2**64 - 1),
    ("echo_f32", "1.5::FLOAT", 1.5),
    ("echo_f64", "-2.25::DOUBLE", -2.25),
    ("echo_char", "'é'", "é"),
    ("echo_string", "'héllo ☃'", "héllo ☃"),
    ("echo_list_u8", "'\\x00\\xFF'::BLOB", b"\x00\xff"),
    ("echo_list_u32", "[1, 4294967295]::UINTEGER[]", [1, 2**32 - 1]),
    ("echo_list_string", "['a', 'é']", ["a", "é"]),
    ("echo_point", "{'x': 1, 'y': -2, 'label_text': 'p'}", {"x": 1, "y": -2, "label_text": "p"}),
    (
        "echo_list_point",
        "[{'x': 1, 'y': 2, 'label_text': ''}]",
        [{"x": 1, "y": 2, "label_text": ""}],
    ),
    ("echo_tuple", """'[7, "t", 0.5]'""", '[7, "t", 0.5]'),
    ("echo_shape", """'{"circle": 2.0}'""", '{"circle": 2.0}'),
    ("echo_color", "'blue-ish'", "blue-ish"),
    ("echo_perms", "['exec', 'read']", ["read", "exec"]),
    ("echo_option_string", "NULL::VARCHAR", None),
    ("echo_option_string", "'x'", "x"),
    ("echo_option_option_u32", "5::UINTEGER", 5),
    ("echo_result_string_string", """'{"ok": "fine"}'""", "fine"),
]


@pytest.fixture(scope="module")
def lite(types_wasm: Path) -> sqlite3.Connection:
    """SQLite with the echo component (lists as values, not batches)."""
    con = sqlite3.connect(":memory:")
    sql.register(con, types_wasm, vectorized=False)
    return con


@pytest.fixture(scope="module")
def duck(types_wasm: Path) -> duckdb.DuckDBPyConnection:
    """DuckDB with the echo component (lists as values; ``add`` renamed from the built-in)."""
    con = duckdb.connect()
    sql.register(con, types_wasm, vectorized=False, names={"add": "add_u32"})
    return con


@pytest.mark.parametrize(("fn", "arg", "want"), SQLITE_CASES, ids=lambda c: str(c)[:30])
def test_sqlite_round_trip(lite: sqlite3.Connection, fn: str, arg: Any, want: Any) -> None:
    """A value of each WIT type goes into the guest from SQLite and comes back in SQLite's form."""
    assert lite.execute(f"SELECT {fn}(?)", (arg,)).fetchone()[0] == want


@pytest.mark.parametrize(("fn", "arg", "want"), DUCKDB_CASES, ids=lambda c: str(c)[:30])
def test_duckdb_round_trip(duck: duckdb.DuckDBPyConnection, fn: str, arg: str, want: Any) -> None:
    """A value of each WIT type goes into the guest from DuckDB and comes back as DuckDB's type."""
    assert duck.execute(f"SELECT {fn}({arg})").fetchall()[0][0] == want


def test_duckdb_types_follow_wit(duck: duckdb.DuckDBPyConnection) -> None:
    """The registered DuckDB signatures use native types: STRUCT, LIST, BLOB, unsigned ints."""
    kinds = duck.execute(
        "SELECT typeof(echo_point({'x': 1, 'y': 2, 'label_text': ''})), "
        "typeof(echo_list_u8(''::BLOB)), typeof(echo_u64(1::UBIGINT)), "
        "typeof(echo_list_string(['a']))"
    ).fetchall()[0]
    assert kinds == (
        "STRUCT(x INTEGER, y INTEGER, label_text VARCHAR)",
        "BLOB",
        "UBIGINT",
        "VARCHAR[]",
    )


def test_two_arguments(lite: sqlite3.Connection, duck: duckdb.DuckDBPyConnection) -> None:
    """Functions of several parameters take their arguments in order."""
    assert lite.execute('SELECT "add"(2, 3)').fetchone()[0] == 5
    assert duck.execute("SELECT add_u32(2, 3)").fetchall()[0][0] == 5


@pytest.mark.parametrize(
    ("fn", "arg"),
    [
        ("echo_s8", 128),
        ("echo_u64", -1),
        ("echo_u8", 1.5),
        ("echo_point", "not json"),
        ("echo_color", "purple"),
        ("echo_result_string_string", '{"maybe": 1}'),
    ],
)
def test_sqlite_values_that_do_not_fit(lite: sqlite3.Connection, fn: str, arg: Any) -> None:
    """A SQL value outside the parameter's type fails as ValueConversionError."""
    with pytest.raises(omniwasm.ValueConversionError, match=fn):
        sql.execute(lite, f"SELECT {fn}(?)", (arg,))


def test_err_result_fails_in_both(
    lite: sqlite3.Connection, duck: duckdb.DuckDBPyConnection
) -> None:
    """``err`` from a ``result`` fails the statement in SQLite and in DuckDB."""
    with pytest.raises(omniwasm.GuestError, match="err: bad"):
        sql.execute(lite, "SELECT echo_result_string_string(?)", ('{"err": "bad"}',))
    with pytest.raises(duckdb.Error, match=r"GuestError: .*err: bad"):
        duck.sql("""SELECT echo_result_string_string('{"err": "bad"}')""").fetchall()


def test_invalid_utf8_from_the_guest_fails(duck: duckdb.DuckDBPyConnection) -> None:
    """A guest returning bytes that are not UTF-8 as a string fails its statement."""
    with pytest.raises(duckdb.Error, match=r"bad_string\(\)"):
        duck.sql("SELECT bad_string()").fetchall()
