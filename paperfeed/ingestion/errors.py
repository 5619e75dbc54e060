"""Errors that say what was wrong and where (file and line, byte offset or URL)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where a record came from: a file (with line or byte offset) or a URL."""

    source: str
    line: int | None = None
    offset: int | None = None

    def __str__(self) -> str:
        if self.line is not None:
            return f"{self.source}:{self.line}"
        if self.offset is not None:
            return f"{self.source}@byte {self.offset}"
        return self.source


@dataclass(frozen=True)
class RecordError:
    """One malformed record: reported and skipped (or, with --strict, fatal to the batch)."""

    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


@dataclass(frozen=True)
class RecordWarning:
    """A record that was stored changed (control characters removed, an unsafe link dropped): reported, kept."""

    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class IngestError(Exception):
    """A whole input cannot be read (missing, truncated gzip, undecodable, unknown format)."""

    def __init__(self, message: str, location: Location | None = None):
        super().__init__(message)
        self.message = message
        self.location = location

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message
