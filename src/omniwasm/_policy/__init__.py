"""The sandbox policy (``Policy``), its units, and the one matcher of allowed outbound hosts."""

from .policy import Mount, Output, Policy, merge_env, parse_duration, parse_size

__all__ = ["Mount", "Output", "Policy", "merge_env", "parse_duration", "parse_size"]
