"""``gridaios init DIR``: the layout, no overwrite, and a client certificate asyncua accepts."""

from __future__ import annotations

import asyncio
import shutil
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asyncua.crypto import uacrypto

from connectors import PointBinding, Sample
from connectors.opcua import OpcUaClient, OpcUaSourceConfig
from runtime.cli.siteinit import init_site
from runtime.config.load import load_config
from tests.support.opcuaserver import field_server
from tests.support.pki import opcua_app_cert
from tests.support.waiting import until

GRIDAIOS = str(Path(sys.executable).parent / "gridaios")


def test_init_lays_out_a_site_that_loads_and_never_overwrites(tmp_path: Path) -> None:
    site = tmp_path / "etc"
    first = init_site(site, hostname="edge-1")
    names = {p.relative_to(site).as_posix() for p in first.created}
    assert names == {
        "site.yaml",
        "networks/demo-feeder.yaml",
        "users.db",
        "pki/client-cert.der",
        "pki/client-key.pem",
    }
    assert (site / "pki" / "trusted").is_dir()
    assert stat.S_IMODE((site / "pki" / "client-key.pem").stat().st_mode) == 0o600
    assert load_config(site / "site.yaml").site.id == "demo-feeder"  # the network resolves
    (site / "site.yaml").write_text((site / "site.yaml").read_text() + "# edited\n")
    cert = (site / "pki" / "client-cert.der").read_bytes()
    again = init_site(site)
    assert again.created == [] and len(again.kept) == 5
    assert (site / "site.yaml").read_text().endswith("# edited\n")
    assert (site / "pki" / "client-cert.der").read_bytes() == cert


def test_certificate_carries_the_application_uri_asyncua_checks(tmp_path: Path) -> None:
    init_site(tmp_path, application_uri="urn:gridaios:north:client", hostname="edge-1")
    cert = uacrypto.x509_from_der((tmp_path / "pki" / "client-cert.der").read_bytes())
    # asyncua's check returns True when it found a problem (and logs it)
    assert uacrypto.check_certificate(cert, "urn:gridaios:north:client", "edge-1") is False
    assert uacrypto.check_certificate(cert, "urn:gridaios:client", "edge-1") is True
    assert uacrypto.check_certificate(cert, "urn:gridaios:north:client", "edge-2") is True
    assert cert.not_valid_after_utc > datetime.now(UTC).replace(year=datetime.now(UTC).year + 4)


@pytest.mark.integration
def test_a_sign_and_encrypt_session_with_the_initialised_pki(tmp_path: Path) -> None:
    """A real asyncua server that trusts only this certificate accepts the client."""
    site = tmp_path / "etc"
    init_site(site)
    server_cert = opcua_app_cert(tmp_path / "server", "server", "urn:test:server", server=True)
    server_trusts = tmp_path / "server-trusts"
    server_trusts.mkdir()
    shutil.copy(site / "pki" / "client-cert.der", server_trusts / "gridaios.der")
    shutil.copy(server_cert.der, site / "pki" / "trusted" / "server.der")
    got: list[Sample] = []
    points = [PointBinding(point="bat1.p_kw", node_id="ns=2;s=bat1.p_kw", unit="kW")]

    async def main() -> None:
        async with field_server(cert=server_cert, trusted_clients=server_trusts) as fs:
            config = OpcUaSourceConfig(
                id="ua",
                endpoint=fs.endpoint,
                security="Basic256Sha256",
                certificate=site / "pki" / "client-cert.der",
                private_key=site / "pki" / "client-key.pem",
                trust_dir=site / "pki" / "trusted",
                publishing_interval_ms=20,
            )
            client = OpcUaClient(config, points, got.append, lambda: datetime.now(UTC))
            await client.connect()
            try:
                await fs.set("p_kw", 42.0)
                await until(lambda: any(s.value == 42.0 for s in got), what="p_kw 42 arrives")
            finally:
                await client.close()

    asyncio.run(main())


def test_init_cli_prints_what_it_made_and_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [GRIDAIOS, "init", str(tmp_path / "site")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and "created" in done.stdout and "client-cert.der" in done.stdout
    blocked = tmp_path / "file"
    blocked.write_text("")
    done = subprocess.run(
        [GRIDAIOS, "init", str(blocked / "site")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"gridaios init {blocked / 'site'}:"), done.stderr


def test_state_dir_is_absolute_and_follows_the_documented_order(tmp_path: Path) -> None:
    import gridaios_data as data

    assert data.state_dir({"GRIDAIOS_STATE_DIR": str(tmp_path / "s")}) == tmp_path / "s"
    systemd = {"STATE_DIRECTORY": "/var/lib/gridaios:/var/lib/other"}
    assert data.state_dir(systemd) == Path("/var/lib/gridaios")
    repo = data.checkout()
    assert repo is not None and data.state_dir({}) == repo / "var" / "gridaios"  # a checkout
    assert data.config_dir({}) == Path("/etc/gridaios")
    assert data.config_dir({"CONFIGURATION_DIRECTORY": "/etc/x"}) == Path("/etc/x")
    assert (repo / "configs").resolve() == data.CONFIGS and data.DEMO_CONFIG.is_file()
