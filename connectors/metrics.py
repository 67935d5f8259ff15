"""Prometheus metrics of every connector: connection state, ingest counts, bad input per reason."""

from __future__ import annotations

from prometheus_client import Counter, Enum, Gauge

from connectors.state import ConnectionState

CONNECTION_STATE = Enum(
    "gridaios_connector_state",
    "Connection state of a field source",
    ["source"],
    states=[s.value for s in ConnectionState],
)
MESSAGES = Counter("gridaios_connector_messages", "Messages or notifications received", ["source"])
SAMPLES = Counter("gridaios_connector_samples", "Samples accepted after decoding", ["source"])
BAD_INPUT = Counter(
    "gridaios_connector_bad_input",
    "Inputs refused (whole messages or single samples), per reason",
    ["source", "reason"],
)
FLAGGED = Counter(
    "gridaios_connector_flagged_samples",
    "Samples flagged by normalization (duplicate, out_of_order, future, frozen)",
    ["source", "flag"],
)
DEAD_LETTERS = Counter(
    "gridaios_connector_dead_letters",
    "Raw inputs written to the dead-letter store, or suppressed by its rate limit",
    ["source", "outcome"],
)
QUEUE_DEPTH = Gauge(
    "gridaios_connector_queue_depth", "Messages waiting between network and decoder", ["source"]
)
RECONNECTS = Counter("gridaios_connector_reconnects", "Successful reconnections", ["source"])


def set_state(source: str, state: ConnectionState) -> None:
    CONNECTION_STATE.labels(source).state(state.value)
