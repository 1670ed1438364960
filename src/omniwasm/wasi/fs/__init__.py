"""``wasi:filesystem`` in Python: the backends and the binding guests see.

``_backend`` holds the vocabulary every backend shares (``FsError``, ``Stat``, flags, limits,
path rules), ``_node`` the descriptor semantics written once (:class:`Node`), ``_host`` and
``_memory`` the two backends (:class:`HostDir`, :class:`MemoryFs`), and ``_binding`` the WIT
``descriptor`` resource and ``preopens`` on top of them.
"""

from ._backend import ERROR_CODES, DirEntry, FsError, NewTimestamp, OpenRequest, Stat
from ._binding import FILESYSTEM_INTERFACES, Descriptor, Preopen, preopens_from
from ._host import HostDir
from ._memory import MemoryFs
from ._node import Node

__all__ = [
    "ERROR_CODES",
    "FILESYSTEM_INTERFACES",
    "Descriptor",
    "DirEntry",
    "FsError",
    "HostDir",
    "MemoryFs",
    "NewTimestamp",
    "Node",
    "OpenRequest",
    "Preopen",
    "Stat",
    "preopens_from",
]
