"""A component's instantiation and a guest resource's destructor run under the policy's timeout.

README, "What a timeout covers": the timeout bounds each call into a guest, including a
component's instantiation (its core modules' start functions) and the destructor a dropped
resource handle runs.
"""

from __future__ import annotations

import pytest
import wasmtime

from fixtures.bounded import bounded
from omniwasm import Policy, Runtime, Timeout

SPINNING_START = """(component
  (core module $m (func $spin (loop (br 0))) (start $spin))
  (core instance $i (instantiate $m)))"""

SPINNING_DTOR = """(component
  (core module $m (func (export "dtor") (param i32) (loop (br 0))))
  (core instance $i (instantiate $m))
  (type $r (resource (rep i32) (dtor (core func $i "dtor"))))
  (core func $new (canon resource.new $r))
  (core module $m2
    (import "" "new" (func $new (param i32) (result i32)))
    (func (export "make") (result i32) (call $new (i32.const 7))))
  (core instance $i2 (instantiate $m2 (with "" (instance (export "new" (func $new))))))
  (export $x "r" (type $r))
  (func (export "make") (result (own $x)) (canon lift (core func $i2 "make"))))"""


@pytest.fixture(scope="module")
def rt() -> Runtime:
    """One runtime for the module's tests."""
    return Runtime(cache=False)


def test_instantiation_spinning_in_a_start_function_times_out(rt: Runtime) -> None:
    """A component whose core start function loops forever fails to instantiate with Timeout."""
    compiled = rt.load(wasmtime.wat2wasm(SPINNING_START))
    _, error, _ = bounded(lambda: rt.instantiate(compiled, Policy(timeout=0.3)))
    assert isinstance(error, Timeout), error


def test_a_destructor_spinning_forever_times_out() -> None:
    """Dropping a handle whose guest destructor loops forever raises Timeout."""
    rt = Runtime(cache=False, components="auto")  # resources: the own backend falls back
    inst = rt.instantiate(rt.load(wasmtime.wat2wasm(SPINNING_DTOR)), Policy(timeout=0.3))
    handle = inst.func("make")()
    _, error, _ = bounded(handle.drop)
    assert isinstance(error, Timeout), error
