"""The provider's exceptions.

Everything the provider raises on purpose is a ``KrknError``, with a message that names
the file, field or object and says what to do. Adapters (operators, CLI) turn these into
``AirflowException`` or an exit code; the journal and scenarios never import Airflow.
"""

from __future__ import annotations


class KrknError(Exception):
    """Base class of the provider's own errors."""


class ConfigError(KrknError):
    """A scenario config, an operator argument or a location is wrong; nothing was changed."""


class JournalError(KrknError):
    """The rollback journal cannot be read or written."""


class UnsafeName(JournalError):
    """A version file or context name does not match the layout (``/``, ``..``, ...)."""


class CorruptRecord(JournalError):
    """A version file is truncated, unparseable or holds an invalid record."""


class DigestMismatch(CorruptRecord):
    """A version file's record does not match its digest: it was edited after writing."""


class PolicyRefused(JournalError):
    """A record asks for something no shipped undo record does; it is not applied."""


class StorageError(JournalError):
    """The storage location cannot be written; the change it would protect is not made."""


class ScenarioError(KrknError):
    """A scenario could not run (no targets, a refused request, a failed recovery)."""


class ReplayIncomplete(KrknError):
    """A replay finished with records still pending; retrying it does exactly the rest."""
