"""A minimal Dockerfile reader for the instructions the deploy tests check."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Stage:
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [arg for kw, arg in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        values = self.all(keyword)
        if not values:
            raise KeyError(f"no {keyword} in stage FROM {self.base}")
        return values[-1]


def _logical_lines(text: str) -> list[str]:
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        lines.append(current)
        current = ""
    if current:
        lines.append(current)
    return lines


def parse(path: Path) -> list[Stage]:
    stages: list[Stage] = []
    for line in _logical_lines(path.read_text()):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if keyword == "FROM":
            stages.append(Stage(base=rest.split()[0]))
        elif stages:
            stages[-1].instructions.append((keyword, rest))
    return stages


def exec_form(argument: str) -> list[str]:
    """The JSON array of an exec-form CMD/ENTRYPOINT (raises if shell form)."""
    value = json.loads(argument)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"not an exec-form array: {argument}")
    return value


def healthcheck_command(argument: str) -> tuple[dict[str, str], list[str]]:
    """Options and exec-form command of ``HEALTHCHECK [--opt=v ...] CMD [...]``."""
    options: dict[str, str] = {}
    match = re.match(r"((?:--[a-z-]+=\S+\s+)*)CMD\s+(.*)$", argument, re.S)
    if match is None:
        raise ValueError(f"unexpected HEALTHCHECK: {argument}")
    for opt in shlex.split(match.group(1)):
        key, _, value = opt[2:].partition("=")
        options[key] = value
    return options, exec_form(match.group(2))


def labels(stage: Stage) -> dict[str, str]:
    result: dict[str, str] = {}
    for argument in stage.all("LABEL"):
        for token in shlex.split(argument):
            key, _, value = token.partition("=")
            result[key] = value
    return result


def env(stage: Stage) -> dict[str, str]:
    result: dict[str, str] = {}
    for argument in stage.all("ENV"):
        for token in shlex.split(argument):
            key, _, value = token.partition("=")
            result[key] = value
    return result
