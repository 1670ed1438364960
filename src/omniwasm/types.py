"""WIT types and their Python values: descriptors, generated classes, and registration.

Descriptors (``U32``, ``String``, ``ListType(U8)``, ``RecordType("point", ...)`` ...) describe
component-model types; ``str()`` of any descriptor is its WIT spelling. ``Compiled.world``
describes a whole component with them. Records map to generated frozen dataclasses
(``record_class``), enums to generated ``enum.Enum`` classes (``enum_class``); ``use_class``
registers your own class for a type (generated bindings do this), and ``snake``/``camel`` are
the name mappings every generated name follows.
"""

from ._wit.convert import from_python, to_python
from ._wit.types import *  # noqa: F403 - this module is the public face of _types
from ._wit.types import __all__ as _type_names
from ._wit.values import Err, Ok, Some, Variant, camel, enum_class, record_class, snake, use_class

__all__ = [  # noqa: PLE0604 - the descriptor names come from _wit.types.__all__
    *_type_names,
    "Err",
    "Ok",
    "Some",
    "Variant",
    "camel",
    "enum_class",
    "from_python",
    "record_class",
    "snake",
    "to_python",
    "use_class",
]
