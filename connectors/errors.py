"""Connector errors. Each subclass tells the caller what to do next."""

from __future__ import annotations


class ConnectorError(Exception):
    """Root of every connector error."""


class ConnectorNotReady(ConnectorError):
    """The peer is unreachable or not ready: retry with back-off."""


class ConnectorAuthFailed(ConnectorError):
    """Credentials or certificates were refused: alert a human, do not retry blindly."""


class UnknownPoint(ConnectorError):
    """A configured node or topic does not exist on the peer: fix the site config."""


class WriteFailed(ConnectorError):
    """A write was refused or its read-back did not match."""


class WriteExpired(WriteFailed):
    """The device refused the command because its validity window had passed: it was never
    applied and must not be sent again; record it expired."""


class WriteRefused(WriteFailed):
    """The device refused the value for good (type mismatch, not writable, out of range):
    the link works, a retry cannot change the answer; end the dispatch with this reason
    and never count it against the source's circuit."""
