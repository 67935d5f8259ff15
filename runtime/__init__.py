"""The runtime: site config, event log, historian, conductor, approvals, outbox, jobs, CLI.

The shell around the pure decision functions of ``safety``, ``simulator`` and
``forecasting``; everything here may import those packages, never the reverse.
Entry points are the ``gridaios`` command (``runtime.cli``) and ``Conductor``.
"""

__all__: list[str] = []
