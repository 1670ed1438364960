"""The sandbox policy (``Policy``), its units, and the one matcher of allowed outbound hosts."""

from .hosts import HostPattern, host_allowed
from .policy import (
    DEFAULT_MAX_OUTPUT,
    Mount,
    Output,
    Policy,
    merge_env,
    parse_duration,
    parse_size,
)

__all__ = [
    "DEFAULT_MAX_OUTPUT",
    "HostPattern",
    "Mount",
    "Output",
    "Policy",
    "host_allowed",
    "merge_env",
    "parse_duration",
    "parse_size",
]
