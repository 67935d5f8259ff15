"""``gridaios-bridge --config BRIDGE.yaml`` and ``gridaios-bridge emulate-device --config ...``."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from gridaios_bridge.config import BridgeConfig, ConfigError, load_config

__all__ = ["main"]


def _parser(prog: str, what: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=what)
    p.add_argument("--config", required=True, type=Path, help="bridge config (YAML subset or JSON)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--log-json", action="store_true", help="one JSON object per log line")
    return p


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in and args_in[0] == "emulate-device":
        p = _parser("gridaios-bridge emulate-device", "Run the emulated battery inverter.")
        p.add_argument("--port", type=int, default=None, help="override modbus.port (0: free)")
        args = p.parse_args(args_in[1:])
        return _emulate(args)
    p = _parser(
        "gridaios-bridge",
        "Device-side bridge: Modbus TCP device <-> gridaios MQTT wire format v1. "
        "Subcommand: emulate-device.",
    )
    return _bridge(p.parse_args(args_in))


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        return json.dumps(body)


def _setup(args: argparse.Namespace) -> None:
    handler = logging.StreamHandler()
    if args.log_json:
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=args.log_level, handlers=[handler])


def _load(path: Path) -> BridgeConfig | None:
    try:
        return load_config(path)
    except ConfigError as err:
        print(f"gridaios-bridge: {err}", file=sys.stderr)
        return None


def _emulate(args: argparse.Namespace) -> int:
    from gridaios_bridge.emulator import serve_forever

    _setup(args)
    cfg = _load(args.config)
    if cfg is None:
        return 2
    port = cfg.modbus.port if args.port is None else args.port
    serve_forever(cfg.emulator, cfg.modbus.host, port, cfg.modbus.unit_id)
    return 0


def _bridge(args: argparse.Namespace) -> int:
    from gridaios_bridge.bridge import Bridge

    _setup(args)
    cfg = _load(args.config)
    if cfg is None:
        return 2
    bridge = Bridge(cfg)
    signal.signal(signal.SIGTERM, lambda _s, _f: bridge.stop())
    signal.signal(signal.SIGINT, lambda _s, _f: bridge.stop())
    bridge.run()
    return 0
