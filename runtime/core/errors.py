"""Runtime errors. Each subclass tells the caller what to do next."""

from __future__ import annotations

from dataclasses import dataclass


class GridaiosError(Exception):
    """Root of every gridaios runtime error."""


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    path: str
    value: str
    rule: str

    def render(self, file: str) -> str:
        if self.value:
            return f"{file}: {self.path} = {self.value}: {self.rule}"
        return f"{file}: {self.path}: {self.rule}"


class ConfigError(GridaiosError):
    """The site config is invalid: refuse to start, print every issue."""

    def __init__(self, file: str, issues: list[ConfigIssue]) -> None:
        self.file = file
        self.issues = issues
        super().__init__("\n".join(issue.render(file) for issue in issues))


class NotFound(GridaiosError):
    """An id given by the user does not exist."""
