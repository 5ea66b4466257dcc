"""The commands of ``epd-gateway`` beyond the core ones in :mod:`gateway.cli`.

Each module has ``register(subparsers, common_parser)``. A command reports a problem by raising
:class:`CliError`: the CLI prints it as one line ``error: ...`` on stderr and exits with its code.
"""
from __future__ import annotations

EXIT_FINDING, EXIT_UNUSABLE = 1, 2


class CliError(Exception):
    """A problem to report as one line ``error: ...`` with exit status ``code``."""

    def __init__(self, message: str, code: int = EXIT_UNUSABLE) -> None:
        super().__init__(message)
        self.code = code
