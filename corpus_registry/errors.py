"""One exception hierarchy for the whole package.

Library code raises these (converting SQLAlchemy, pydantic, OS and Hub errors where they
enter, ``raise ... from e``); the CLI formats them once, as one line plus a hint.

    CorpusRegistryError
    ├── ConfigError          a file the user wrote (sources.yaml, build spec, policy) is invalid
    ├── LicenseError         an SPDX expression does not parse or names an unknown licence
    ├── ReaderError          a source document cannot be read or decoded
    ├── RegistryError        the registry database is missing, outdated or unreachable
    │   ├── NotFoundError    a source, document or release is not in the registry
    │   └── StoreError       a text in the document store is missing or damaged (its sha256 differs)
    ├── DecisionError        a licence decision cannot be recorded as asked (no reason, bad URL...)
    ├── BuildError           a build cannot run (empty selection, ...)
    ├── HubError             the Hub is unreachable, the token is missing, a push failed
    ├── AuditError           an audit target cannot be read
    └── OutputError          an output cannot be written where asked (checked before the work)
"""

from __future__ import annotations


class CorpusRegistryError(Exception):
    """Base error. ``hint`` says what the user can do next."""

    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None, **fields: object) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint
        self.fields = fields
        for key, value in fields.items():
            setattr(self, key, value)

    def __str__(self) -> str:
        return self.message


class ConfigError(CorpusRegistryError):
    """A user-written file is invalid; ``file`` and ``field`` name the place."""


class LicenseError(CorpusRegistryError):
    """An SPDX expression is invalid or names an unknown licence."""

    hint = "use an SPDX id (https://spdx.org/licenses/), 'public-domain' or 'unknown'"


class ReaderError(CorpusRegistryError):
    """A source file cannot be read, decoded or parsed."""


class RegistryError(CorpusRegistryError):
    """The registry database cannot be used as asked."""


class NotFoundError(RegistryError):
    """A source, document or release is not in the registry."""


class StoreError(RegistryError):
    """A text of the document store cannot be read back as registered: its shard is missing or
    unreadable, or the text is absent from it or no longer hashes to its sha256. ``sha256`` and
    ``shard`` name the blob; callers that know the document add ``document`` (SOURCE/IDENTIFIER)."""

    hint = ("run `corpus-registry verify` to list every damaged text, then "
            "`corpus-registry ingest --repair SOURCE` to rewrite them from the source")


class DecisionError(CorpusRegistryError):
    """A licence, review or withdrawal decision cannot be recorded as asked."""


class BuildError(CorpusRegistryError):
    """A release cannot be built as specified."""


class HubError(CorpusRegistryError):
    """A Hub operation failed."""


class AuditError(CorpusRegistryError):
    """An audit target or policy cannot be read."""


class OutputError(CorpusRegistryError):
    """A file or folder cannot be written where asked: a missing or unwritable folder, or a folder
    holding files the tool did not write (it never deletes those). ``path`` names the place."""
