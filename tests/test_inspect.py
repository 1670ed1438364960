"""omniwasm.inspect: kinds, sizes, hashes, typed imports/exports, WIT worlds, sections, producers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

import omniwasm
from omniwasm._inspect import Inspection, inspect

CORE_WAT = """
(module
  (import "env" "log" (func (param i32 i32)))
  (import "env" "mem" (memory 1 4))
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "nothing"))
  (table (export "tab") 2 10 funcref)
  (global (export "counter") (mut i64) (i64.const 0))
  (global (export "answer") f32 (f32.const 42))
  (@custom "note" "hello")
)
"""

# Generated from this WIT with `wasm-tools component embed --dummy` + `component new`, then
# `wasm-tools strip --all` and `print`; `@producers` annotations added by hand:
#
#   package demo:notes@0.1.0;
#   interface log { enum level { debug, info }  log: func(level: level, msg: string); }
#   interface text {
#     record document { title: string, body: list<string> }
#     record summary { text: string, words: u32 }
#     enum color { red, green }
#     flags perms { read, write }
#     variant shape { circle(f32), none }
#     resource blob {
#       constructor(n: u32);
#       size: func() -> u64;
#       open: static func(name: string) -> result<blob>;
#     }
#     summarize: func(doc: document, max-words: u32) -> result<summary, string>;
#     misc: func(c: color, p: perms, s: shape, o: option<tuple<u8, s64>>) -> list<color>;
#     check: func(b: borrow<blob>) -> result<_, string>;
#   }
#   world notes { import log; export text; export run: func(); }
NOTES_WAT = """
(component
  (type (;0;)
    (instance
      (type (;0;) (enum "debug" "info"))
      (export (;1;) "level" (type (eq 0)))
      (type (;2;) (func (param "level" 1) (param "msg" string)))
      (export (;0;) "log" (func (type 2)))
    )
  )
  (import "demo:notes/log@0.1.0" (instance (;0;) (type 0)))
  (core module (;0;)
    (type (;0;) (func (param i32 i32 i32)))
    (type (;1;) (func (param i32)))
    (type (;2;) (func (param i32) (result i32)))
    (type (;3;) (func))
    (type (;4;) (func (param i32) (result i64)))
    (type (;5;) (func (param i64)))
    (type (;6;) (func (param i32 i32) (result i32)))
    (type (;7;) (func (param i32 i32 i32 i32 i32) (result i32)))
    (type (;8;) (func (param i32 i32 i32 f32 i32 i32 i64) (result i32)))
    (type (;9;) (func (param i32 i32 i32 i32) (result i32)))
    (import "cm32p2|demo:notes/log@0.1" "log" (func (;0;) (type 0) (param i32 i32 i32)))
    (import "cm32p2|_ex_demo:notes/text@0.1" "blob_drop" (func (;1;) (type 1) (param i32)))
    (import "cm32p2|_ex_demo:notes/text@0.1" "blob_new" (func (;2;) (type 2) (param i32) (result i32)))
    (import "cm32p2|_ex_demo:notes/text@0.1" "blob_rep" (func (;3;) (type 2) (param i32) (result i32)))
    (memory (;0;) 0)
    (export "cm32p2||run" (func 4))
    (export "cm32p2||run_post" (func 5))
    (export "cm32p2|demo:notes/text@0.1|[constructor]blob" (func 6))
    (export "cm32p2|demo:notes/text@0.1|[constructor]blob_post" (func 7))
    (export "cm32p2|demo:notes/text@0.1|[method]blob.size" (func 8))
    (export "cm32p2|demo:notes/text@0.1|[method]blob.size_post" (func 9))
    (export "cm32p2|demo:notes/text@0.1|[static]blob.open" (func 10))
    (export "cm32p2|demo:notes/text@0.1|[static]blob.open_post" (func 11))
    (export "cm32p2|demo:notes/text@0.1|summarize" (func 12))
    (export "cm32p2|demo:notes/text@0.1|summarize_post" (func 13))
    (export "cm32p2|demo:notes/text@0.1|misc" (func 14))
    (export "cm32p2|demo:notes/text@0.1|misc_post" (func 15))
    (export "cm32p2|demo:notes/text@0.1|check" (func 16))
    (export "cm32p2|demo:notes/text@0.1|check_post" (func 17))
    (export "cm32p2|demo:notes/text@0.1|blob_dtor" (func 18))
    (export "cm32p2_memory" (memory 0))
    (export "cm32p2_realloc" (func 19))
    (export "cm32p2_initialize" (func 20))
    (func (;4;) (type 3)
      unreachable
    )
    (func (;5;) (type 3))
    (func (;6;) (type 2) (param i32) (result i32)
      unreachable
    )
    (func (;7;) (type 1) (param i32))
    (func (;8;) (type 4) (param i32) (result i64)
      unreachable
    )
    (func (;9;) (type 5) (param i64))
    (func (;10;) (type 6) (param i32 i32) (result i32)
      unreachable
    )
    (func (;11;) (type 1) (param i32))
    (func (;12;) (type 7) (param i32 i32 i32 i32 i32) (result i32)
      unreachable
    )
    (func (;13;) (type 1) (param i32))
    (func (;14;) (type 8) (param i32 i32 i32 f32 i32 i32 i64) (result i32)
      unreachable
    )
    (func (;15;) (type 1) (param i32))
    (func (;16;) (type 2) (param i32) (result i32)
      unreachable
    )
    (func (;17;) (type 1) (param i32))
    (func (;18;) (type 1) (param i32))
    (func (;19;) (type 9) (param i32 i32 i32 i32) (result i32)
      unreachable
    )
    (func (;20;) (type 3))
    (@producers (language "Rust" "") (processed-by "rustc" "1.90.0"))
  )
  (core module (;1;)
    (type (;0;) (func (param i32 i32 i32)))
    (type (;1;) (func (param i32)))
    (table (;0;) 2 2 funcref)
    (export "0" (func 0))
    (export "1" (func 1))
    (export "$imports" (table 0))
    (func (;0;) (type 0) (param i32 i32 i32)
      local.get 0
      local.get 1
      local.get 2
      i32.const 0
      call_indirect (type 0)
    )
    (func (;1;) (type 1) (param i32)
      local.get 0
      i32.const 1
      call_indirect (type 1)
    )
  )
  (core instance (;0;) (instantiate 1))
  (type (;1;) (list string))
  (type (;2;) (record (field "title" string) (field "body" 1)))
  (type (;3;) (record (field "text" string) (field "words" u32)))
  (type (;4;) (enum "red" "green"))
  (type (;5;) (flags "read" "write"))
  (type (;6;) (variant (case "circle" f32) (case "none")))
  (alias core export 0 "1" (core func (;0;)))
  (type (;7;) (resource (rep i32) (dtor 0)))
  (alias core export 0 "0" (core func (;1;)))
  (core instance (;1;)
    (export "log" (func 1))
  )
  (core func (;2;) (canon resource.drop 7))
  (core func (;3;) (canon resource.new 7))
  (core func (;4;) (canon resource.rep 7))
  (core instance (;2;)
    (export "blob_drop" (func 2))
    (export "blob_new" (func 3))
    (export "blob_rep" (func 4))
  )
  (core instance (;3;) (instantiate 0
      (with "cm32p2|demo:notes/log@0.1" (instance 1))
      (with "cm32p2|_ex_demo:notes/text@0.1" (instance 2))
    )
  )
  (alias core export 3 "cm32p2_memory" (core memory (;0;)))
  (core module (;2;)
    (type (;0;) (func (param i32 i32 i32)))
    (type (;1;) (func (param i32)))
    (type (;2;) (func))
    (import "actual" "0" (func (;0;) (type 0) (param i32 i32 i32)))
    (import "actual" "1" (func (;1;) (type 1) (param i32)))
    (import "main" "cm32p2_initialize" (func (;2;) (type 2)))
    (import "shim" "$imports" (table (;0;) 2 2 funcref))
    (start 2)
    (elem (;0;) (i32.const 0) func 0 1)
  )
  (alias export 0 "log" (func (;0;)))
  (core func (;5;) (canon lower (func 0) (memory 0) string-encoding=utf8))
  (alias core export 3 "cm32p2|demo:notes/text@0.1|blob_dtor" (core func (;6;)))
  (core instance (;4;)
    (export "0" (func 5))
    (export "1" (func 6))
  )
  (core instance (;5;) (instantiate 2
      (with "actual" (instance 4))
      (with "main" (instance 3))
      (with "shim" (instance 0))
    )
  )
  (type (;8;) (func))
  (alias core export 3 "cm32p2||run" (core func (;7;)))
  (alias core export 3 "cm32p2||run_post" (core func (;8;)))
  (func (;1;) (type 8) (canon lift (core func 7) (post-return 8)))
  (export (;2;) "run" (func 1))
  (type (;9;) (own 7))
  (type (;10;) (func (param "n" u32) (result 9)))
  (alias core export 3 "cm32p2|demo:notes/text@0.1|[constructor]blob" (core func (;9;)))
  (alias core export 3 "cm32p2|demo:notes/text@0.1|[constructor]blob_post" (core func (;10;)))
  (func (;3;) (type 10) (canon lift (core func 9) (post-return 10)))
  (type (;11;) (borrow 7))
  (type (;12;) (func (param "self" 11) (result u64)))
  (alias core export 3 "cm32p2|demo:notes/text@0.1|[method]blob.size" (core func (;11;)))
  (alias core export 3 "cm32p2|demo:notes/text@0.1|[method]blob.size_post" (core func (;12;)))
  (func (;4;) (type 12) (canon lift (core func 11) (post-return 12)))
  (type (;13;) (result 9))
  (type (;14;) (func (param "name" string) (result 13)))
  (alias core export 3 "cm32p2|demo:notes/text@0.1|[static]blob.open" (core func (;13;)))
  (alias core export 3 "cm32p2_realloc" (core func (;14;)))
  (alias core export 3 "cm32p2|demo:notes/text@0.1|[static]blob.open_post" (core func (;15;)))
  (func (;5;) (type 14) (canon lift (core func 13) (memory 0) (realloc 14) string-encoding=utf8 (post-return 15)))
  (type (;15;) (result 3 (error string)))
  (type (;16;) (func (param "doc" 2) (param "max-words" u32) (result 15)))
  (alias core export 3 "cm32p2|demo:notes/text@0.1|summarize" (core func (;16;)))
  (alias core export 3 "cm32p2|demo:notes/text@0.1|summarize_post" (core func (;17;)))
  (func (;6;) (type 16) (canon lift (core func 16) (memory 0) (realloc 14) string-encoding=utf8 (post-return 17)))
  (type (;17;) (tuple u8 s64))
  (type (;18;) (option 17))
  (type (;19;) (list 4))
  (type (;20;) (func (param "c" 4) (param "p" 5) (param "s" 6) (param "o" 18) (result 19)))
  (alias core export 3 "cm32p2|demo:notes/text@0.1|misc" (core func (;18;)))
  (alias core export 3 "cm32p2|demo:notes/text@0.1|misc_post" (core func (;19;)))
  (func (;7;) (type 20) (canon lift (core func 18) (memory 0) (post-return 19)))
  (type (;21;) (result (error string)))
  (type (;22;) (func (param "b" 11) (result 21)))
  (alias core export 3 "cm32p2|demo:notes/text@0.1|check" (core func (;20;)))
  (alias core export 3 "cm32p2|demo:notes/text@0.1|check_post" (core func (;21;)))
  (func (;8;) (type 22) (canon lift (core func 20) (memory 0) string-encoding=utf8 (post-return 21)))
  (component (;0;)
    (import "import-type-blob" (type (;0;) (sub resource)))
    (type (;1;) (own 0))
    (type (;2;) (func (param "n" u32) (result 1)))
    (import "import-constructor-blob" (func (;0;) (type 2)))
    (type (;3;) (borrow 0))
    (type (;4;) (func (param "self" 3) (result u64)))
    (import "import-method-blob-size" (func (;1;) (type 4)))
    (type (;5;) (result 1))
    (type (;6;) (func (param "name" string) (result 5)))
    (import "import-static-blob-open" (func (;2;) (type 6)))
    (type (;7;) (list string))
    (type (;8;) (record (field "title" string) (field "body" 7)))
    (import "import-type-document" (type (;9;) (eq 8)))
    (type (;10;) (record (field "text" string) (field "words" u32)))
    (import "import-type-summary" (type (;11;) (eq 10)))
    (type (;12;) (result 11 (error string)))
    (type (;13;) (func (param "doc" 9) (param "max-words" u32) (result 12)))
    (import "import-func-summarize" (func (;3;) (type 13)))
    (type (;14;) (enum "red" "green"))
    (import "import-type-color" (type (;15;) (eq 14)))
    (type (;16;) (flags "read" "write"))
    (import "import-type-perms" (type (;17;) (eq 16)))
    (type (;18;) (variant (case "circle" f32) (case "none")))
    (import "import-type-shape" (type (;19;) (eq 18)))
    (type (;20;) (tuple u8 s64))
    (type (;21;) (option 20))
    (type (;22;) (list 15))
    (type (;23;) (func (param "c" 15) (param "p" 17) (param "s" 19) (param "o" 21) (result 22)))
    (import "import-func-misc" (func (;4;) (type 23)))
    (type (;24;) (result (error string)))
    (type (;25;) (func (param "b" 3) (result 24)))
    (import "import-func-check" (func (;5;) (type 25)))
    (type (;26;) (list string))
    (type (;27;) (record (field "title" string) (field "body" 26)))
    (export (;28;) "document" (type 27))
    (type (;29;) (record (field "text" string) (field "words" u32)))
    (export (;30;) "summary" (type 29))
    (type (;31;) (enum "red" "green"))
    (export (;32;) "color" (type 31))
    (type (;33;) (flags "read" "write"))
    (export (;34;) "perms" (type 33))
    (type (;35;) (variant (case "circle" f32) (case "none")))
    (export (;36;) "shape" (type 35))
    (export (;37;) "blob" (type 0))
    (type (;38;) (own 37))
    (type (;39;) (func (param "n" u32) (result 38)))
    (export (;6;) "[constructor]blob" (func 0) (func (type 39)))
    (type (;40;) (borrow 37))
    (type (;41;) (func (param "self" 40) (result u64)))
    (export (;7;) "[method]blob.size" (func 1) (func (type 41)))
    (type (;42;) (result 38))
    (type (;43;) (func (param "name" string) (result 42)))
    (export (;8;) "[static]blob.open" (func 2) (func (type 43)))
    (type (;44;) (result 30 (error string)))
    (type (;45;) (func (param "doc" 28) (param "max-words" u32) (result 44)))
    (export (;9;) "summarize" (func 3) (func (type 45)))
    (type (;46;) (tuple u8 s64))
    (type (;47;) (option 46))
    (type (;48;) (list 32))
    (type (;49;) (func (param "c" 32) (param "p" 34) (param "s" 36) (param "o" 47) (result 48)))
    (export (;10;) "misc" (func 4) (func (type 49)))
    (type (;50;) (result (error string)))
    (type (;51;) (func (param "b" 40) (result 50)))
    (export (;11;) "check" (func 5) (func (type 51)))
  )
  (instance (;1;) (instantiate 0
      (with "import-constructor-blob" (func 3))
      (with "import-method-blob-size" (func 4))
      (with "import-static-blob-open" (func 5))
      (with "import-func-summarize" (func 6))
      (with "import-func-misc" (func 7))
      (with "import-func-check" (func 8))
      (with "import-type-blob" (type 7))
      (with "import-type-document" (type 2))
      (with "import-type-summary" (type 3))
      (with "import-type-color" (type 4))
      (with "import-type-perms" (type 5))
      (with "import-type-shape" (type 6))
    )
  )
  (export (;2;) "demo:notes/text@0.1.0" (instance 1))
  (@producers (processed-by "wit-component" "0.262.0") (sdk "demo-sdk" "1.2.3"))
)
"""

TEXT = "demo:notes/text@0.1.0"


@pytest.fixture(scope="module")
def notes() -> Inspection:
    """The inspection of the demo component."""
    return inspect(NOTES_WAT)


def test_core_module_basics_from_text() -> None:
    """A core module given as text reports its kind, text format, binary size and sha256."""
    info = inspect(CORE_WAT)
    compiled = omniwasm.Runtime().load(CORE_WAT)
    assert info.kind == "module"
    assert info.format == "text"
    assert not info.precompiled
    assert info.sha256 == compiled.sha256
    assert info.size > 8
    assert info.wit is None


def test_core_imports_and_exports_with_types() -> None:
    """Core imports and exports render functions, memory, table and global limits as WAT does."""
    info = inspect(CORE_WAT)
    imports = {(e.module, e.name): e.type for e in info.imports}
    assert imports == {("env", "log"): "func(i32, i32) -> ()", ("env", "mem"): "memory(1, 4)"}
    exports = {e.name: e.type for e in info.exports}
    assert exports == {
        "add": "func(i32, i32) -> (i32)",
        "nothing": "func() -> ()",
        "tab": "table(2, 10, funcref)",
        "counter": "global(mut i64)",
        "answer": "global(f32)",
    }


def test_core_custom_sections_and_section_list() -> None:
    """Custom sections are listed with their name and payload size, and sections in order."""
    info = inspect(CORE_WAT)
    assert [(c.name, c.size, c.where) for c in info.custom_sections] == [("note", 5, "")]
    names = [s.name for s in info.sections]
    assert names[:3] == ["type", "import", "function"]
    assert "custom:note" in names
    assert info.producers == ()


def test_inspect_reads_a_wasm_file(tmp_path: Path) -> None:
    """A .wasm path reports the file's size, sha256 and path, in binary format."""
    path = tmp_path / "m.wasm"
    path.write_bytes(b"\0asm\x01\x00\x00\x00" + b"\x00\x07\x03tag" + b"abc")
    info = inspect(path)
    assert info.format == "binary" and info.kind == "module"
    assert info.source == str(path)
    assert info.size == path.stat().st_size == 17
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [(c.name, c.size) for c in info.custom_sections] == [("tag", 3)]


def test_inspect_accepts_compiled() -> None:
    """An already compiled ``Compiled`` is inspected without compiling again."""
    compiled = omniwasm.Runtime().load(CORE_WAT)
    info = inspect(compiled)
    assert info.sha256 == compiled.sha256
    assert {e.name for e in info.exports} == {"add", "nothing", "tab", "counter", "answer"}


def test_precompiled_reports_what_the_engine_knows(tmp_path: Path) -> None:
    """A .cwasm reports kind and types from the engine, its own size and hash, and no sections."""
    rt = omniwasm.Runtime()
    path = tmp_path / "m.cwasm"
    path.write_bytes(rt.compile(CORE_WAT))
    info = inspect(path)
    assert info.format == "precompiled" and info.precompiled
    assert info.kind == "module"
    assert info.size == path.stat().st_size
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert {e.name: e.type for e in info.exports}["add"] == "func(i32, i32) -> (i32)"
    assert info.sections == () and info.custom_sections == () and info.producers == ()


def test_precompiled_component_keeps_its_world(tmp_path: Path, notes: Inspection) -> None:
    """A precompiled component still renders the same WIT world as its binary."""
    path = tmp_path / "c.cwasm"
    path.write_bytes(omniwasm.Runtime().compile(NOTES_WAT))
    info = inspect(path)
    assert info.kind == "component" and info.precompiled
    assert info.wit == notes.wit


def test_component_function_signatures_in_wit(notes: Inspection) -> None:
    """Component functions render as WIT signatures that use the interface's type names."""
    exports = {e.name: e.type for e in notes.exports}
    assert exports[f"{TEXT}#summarize"] == (
        "func(doc: document, max-words: u32) -> result<summary, string>"
    )
    assert exports[f"{TEXT}#misc"] == (
        "func(c: color, p: perms, s: shape, o: option<tuple<u8, s64>>) -> list<color>"
    )
    assert exports[f"{TEXT}#check"] == "func(b: borrow<blob>) -> result<_, string>"
    assert exports[f"{TEXT}#[static]blob.open"] == "func(name: string) -> result<blob>"
    assert exports["run"] == "func()"


def test_component_type_definitions_in_wit(notes: Inspection) -> None:
    """Records, variants, enums, flags and resources render as their WIT definitions."""
    exports = {e.name: e.type for e in notes.exports}
    assert exports[f"{TEXT}#document"] == "record { title: string, body: list<string> }"
    assert exports[f"{TEXT}#shape"] == "variant { circle(f32), none }"
    assert exports[f"{TEXT}#color"] == "enum { red, green }"
    assert exports[f"{TEXT}#perms"] == "flags { read, write }"
    assert exports[f"{TEXT}#blob"] == "resource"


def test_component_imports_are_rows_per_interface_member(notes: Inspection) -> None:
    """Imported interface members are rows of (interface, member, WIT type)."""
    rows = {(e.module, e.name): e.type for e in notes.imports}
    assert rows[("demo:notes/log@0.1.0", "log")] == "func(level: level, msg: string)"
    assert rows[("demo:notes/log@0.1.0", "level")] == "enum { debug, info }"


def test_component_world_as_wit_text(notes: Inspection) -> None:
    """The world renders as WIT: imports/exports in the world, interfaces grouped by package."""
    wit = notes.wit
    assert wit is not None
    assert "world root {\n  import demo:notes/log@0.1.0;\n" in wit
    assert "  export run: func();\n" in wit
    assert "  export demo:notes/text@0.1.0;\n" in wit
    assert "package demo:notes@0.1.0 {" in wit
    assert "    record document { title: string, body: list<string> }\n" in wit
    assert "    variant shape { circle(f32), none }\n" in wit
    assert (
        "    resource blob {\n"
        "      constructor(n: u32);\n"
        "      size: func() -> u64;\n"
        "      open: static func(name: string) -> result<blob>;\n"
        "    }\n"
    ) in wit
    assert "    summarize: func(doc: document, max-words: u32) -> result<summary, string>;\n" in wit


def test_component_world_tree(notes: Inspection) -> None:
    """The world is also a tree of items: an exported interface holds typed members."""
    text = next(i for i in notes.world_exports if i.name == TEXT)
    assert text.kind == "interface"
    members = {m.name: (m.kind, m.type) for m in text.items}
    assert members["summary"] == ("type", "record { text: string, words: u32 }")
    assert members["blob"] == ("resource", "resource")
    assert members["[constructor]blob"] == ("func", "func(n: u32) -> blob")


def test_compiled_exports_use_wit() -> None:
    """Compiled.imports/exports show component types in WIT, not wasmtime class names."""
    compiled = omniwasm.Runtime().load(NOTES_WAT)
    assert (
        omniwasm.Export(
            "",
            f"{TEXT}#summarize",
            ("func(doc: document, max-words: u32) -> result<summary, string>"),
        )
        in compiled.exports
    )
    assert all("Type" not in e.type for e in [*compiled.imports, *compiled.exports])


def test_component_producers_top_level_and_nested(notes: Inspection) -> None:
    """Producers sections of the component and of its nested core modules are parsed."""
    assert notes.producer_fields() == {
        "processed-by": [("wit-component", "0.262.0")],
        "sdk": [("demo-sdk", "1.2.3")],
    }
    assert notes.producer_fields("module 0") == {
        "language": [("Rust", "")],
        "processed-by": [("rustc", "1.90.0")],
    }
    wheres = {c.where for c in notes.custom_sections if c.name == "producers"}
    assert wheres == {"", "module 0"}


def test_zig_module_has_producers(c_module: Callable[[str], Path]) -> None:
    """A C module built by zig carries a producers section naming the language and clang."""
    info = inspect(c_module("inspect_hello"))
    fields = info.producer_fields()
    assert any(name.startswith("C") for name, _ in fields["language"])
    assert any(name == "clang" and version for name, version in fields["processed-by"])
    assert "producers" in {c.name for c in info.custom_sections}
    assert ("wasi_snapshot_preview1", "fd_write") in {(e.module, e.name) for e in info.imports}


def test_to_dict_is_json_ready(notes: Inspection) -> None:
    """to_dict gives plain JSON data including the world and grouped producers."""
    data = json.loads(json.dumps(notes.to_dict()))
    assert data["kind"] == "component" and data["format"] == "text"
    assert data["world"]["wit"] == notes.wit
    assert data["producers"]["sdk"] == [{"name": "demo-sdk", "version": "1.2.3", "where": ""}]
    exported = {i["name"]: i for i in data["world"]["exports"]}
    assert exported[TEXT]["kind"] == "interface"
    assert {"name": "run", "kind": "func", "type": "func()"} in data["world"]["exports"]


def test_invalid_input_raises_invalid_module() -> None:
    """Bytes that are not WebAssembly raise InvalidModule."""
    with pytest.raises(omniwasm.InvalidModule):
        inspect(b"\0asm\x01\x00\x00\x00\x05")


IMPORTS_ONLY_WAT = """
(component
  (import "demo:ids/ids" (instance
    (type $id0 u32)
    (export "id" (type $id (eq $id0)))
    (type $rec0 (record (field "a" $id)))
    (export "rec" (type $r (eq $rec0)))
    (export "get" (func (param "r" $r) (result $id)))))
  (import "plain" (instance (export "ping" (func))))
  (import "tick" (func (param "n" u64)))
)
"""


def test_world_aliases_plain_instances_and_world_functions() -> None:
    """Type aliases, unpackaged instances and world-level functions render as WIT."""
    info = inspect(IMPORTS_ONLY_WAT)
    wit = info.wit
    assert wit is not None
    assert "  import plain: interface {\n    ping: func();\n  }\n" in wit
    assert "  import tick: func(n: u64);\n" in wit
    assert "package demo:ids {\n  interface ids {\n    type id = u32;\n" in wit
    assert "    record rec { a: u32 }\n" in wit
    assert ("", "tick", "func(n: u64)") in {(e.module, e.name, e.type) for e in info.imports}
    assert info.exports == ()


def test_inspect_and_world_name_resources_alike() -> None:
    """inspect names a resource as Compiled.world does, even where its interface hides it."""
    examples = Path(omniwasm.__file__).parent / "examples"
    compiled = omniwasm.Runtime(cache=False).load(examples / "http_hello.wat")
    handler = next(
        i for i in compiled.world.exports if i.name.startswith("wasi:http/incoming-handler")
    )
    sig = handler.func("handle")
    names = [str(ty).removeprefix("own<").removesuffix(">") for _, ty in sig.params]
    rows = {e.name: e.type for e in inspect(compiled).exports}
    assert names == ["incoming-request", "response-outparam"]
    assert rows[f"{handler.name}#handle"] == f"func(request: {names[0]}, response-out: {names[1]})"
