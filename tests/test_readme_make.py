"""The README's "The two commands" section: its make targets exist and .ci/run is as described."""

from __future__ import annotations

import re
from pathlib import Path

from fixtures.readme import blocks, commands, section

ROOT = Path(__file__).parents[1]


def _targets() -> set[str]:
    return set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))


def test_the_two_commands_are_make_targets() -> None:
    """Each command of the block is `make TARGET` for a target the Makefile defines."""
    lines = commands(blocks(section("The two commands"), "sh")[0])
    assert [line.split("#")[0].split() for line in lines] == [["make", "demo"], ["make", "test"]]
    assert {"demo", "test"} <= _targets()


def test_ci_runs_what_the_readme_says() -> None:
    """.ci/run runs the make targets the README names for it, in that order."""
    ran = re.findall(r"\bmake ([\w-]+)", (ROOT / ".ci" / "run").read_text())
    text = " ".join(section("The two commands").split())
    said = re.search(r"`\.ci/run` calls (.*?)\(", text)
    assert said is not None
    assert re.findall(r"`make ([\w-]+)`", said.group(1)) == ran
    assert set(ran) <= _targets()
