"""Component variables for gateway apps: Spin's ``fermyon:spin/variables`` and ``wasi:config``.

A component reads the variables its manifest gives it (``[component.ID] variables = {...}``,
their ``{{ name }}`` templates resolved against the application's ``[variables]`` and the
``--var`` values when the app loads) and nothing else: neither the application variables
themselves nor another component's. Two interfaces read them, defined on the app's linker
(any version of each name):

``fermyon:spin/variables@2.0.0`` (Spin 2 and later)::

    get: func(name: string) -> result<string, error>;
    variant error { invalid-name(string), undefined(string), provider(string), other(string) }

``wasi:config/store@0.2.0-draft`` (the same shape as ``@0.2.0-draft-2024-09-27``, which
Spin's SDKs import, and ``@0.2.0-rc.1``)::

    get: func(key: string) -> result<option<string>, error>;
    get-all: func() -> result<list<tuple<string, string>>, error>;
    variant error { upstream(string), io(string) }

Names follow Spin's rules: lower-case ASCII letters, digits and single underscores, starting
with a letter and ending with a letter or digit. Spin's ``get`` answers any other name
``invalid-name`` and a valid name the component lacks ``undefined``; ``wasi:config``'s ``get``
answers ``none`` to both (what Spin does). Values are fixed when the app loads, so neither
interface ever fails with ``provider``/``upstream``. An instance without variables (a single
component served on its own) sees every name undefined and an empty ``get-all``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._component import host_data
from .._wit.values import Err, Variant

__all__ = ["VARIABLE_INTERFACES", "ComponentVariables", "name_problem"]


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid variable name under Spin's rules, or None when it is."""
    if not name:
        return "must not be empty"
    bad = next(
        (c for c in name if not (c.isascii() and (c.islower() or c.isdigit() or c == "_"))), None
    )
    if bad is not None:
        return (
            f"invalid character {bad!r}: names may contain only lower-case letters, digits "
            "and underscores"
        )
    if not ("a" <= name[0] <= "z"):
        return "must start with a lower-case letter"
    if name[-1] == "_":
        return "must end with a lower-case letter or a digit"
    if "__" in name:
        return "must not contain consecutive underscores"
    return None


class ComponentVariables:
    """The variables one component may read, attached to each of its instances' context.

    Args:
        component: the component's id (named in ``undefined`` messages).
        values: its variables, resolved.

    """

    def __init__(self, component: str, values: Mapping[str, str]) -> None:
        self.component = component
        self.values = dict(values)

    def __repr__(self) -> str:
        return f"<ComponentVariables {self.component} {sorted(self.values)}>"


_NONE = ComponentVariables("", {})


def _current() -> ComponentVariables:
    found = getattr(host_data(), "variables", None)
    return found if isinstance(found, ComponentVariables) else _NONE


def spin_get(name: str) -> str:
    """``fermyon:spin/variables.get``: the value, or ``invalid-name`` / ``undefined``.

    Raises:
        Err: ``invalid-name(message)`` or ``undefined(message)``.

    """
    problem = name_problem(name)
    if problem is not None:
        raise Err(Variant("invalid-name", f"{name!r}: {problem}"))
    variables = _current()
    value = variables.values.get(name)
    if value is None:
        owner = f" for component {variables.component!r}" if variables.component else ""
        raise Err(Variant("undefined", f"no variable {name!r}{owner}"))
    return value


def config_get(key: str) -> str | None:
    """``wasi:config/store.get``: the value, or None (``ok(none)``) for any other key."""
    return _current().values.get(key)


def config_get_all() -> list[tuple[str, str]]:
    """``wasi:config/store.get-all``: every variable of the component, sorted by name."""
    return sorted(_current().values.items())


VARIABLE_INTERFACES: dict[str, dict[str, Any]] = {
    "fermyon:spin/variables": {"get": spin_get},
    "wasi:config/store": {"get": config_get, "get_all": config_get_all},
}
"""Member definitions for ``Linker.define`` (any version of each interface)."""
