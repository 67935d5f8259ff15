"""``gridaios init DIR``: lay out a site directory (config skeleton, users store, OPC UA PKI).

DIR (``/etc/gridaios`` on an edge box) gets::

    site.yaml                  the demo feeder's config as a skeleton to edit
    networks/demo-feeder.yaml  the network it references (relative to site.yaml)
    users.db                   the API's users store, empty (`gridaios users add`)
    pki/client-cert.der        the OPC UA client's self-signed application certificate
    pki/client-key.pem         its RSA key (mode 0600)
    pki/trusted/               put the OPC UA servers' certificates here (trust_dir)

The certificate follows OPC 10000-6 6.2.2 as asyncua checks it: the application URI in
the subjectAltName (it must equal the source's ``application_uri``), the host's name,
digitalSignature/keyEncipherment/dataEncipherment, clientAuth. Existing files are never
overwritten: running init again fills in only what is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import gridaios_data

DEFAULT_APPLICATION_URI = "urn:gridaios:client"  # connectors.opcua.config's default
CERT_DAYS = 5 * 365


@dataclass
class InitReport:
    created: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def init_site(
    directory: Path,
    *,
    application_uri: str = DEFAULT_APPLICATION_URI,
    hostname: str | None = None,
    now: datetime | None = None,
) -> InitReport:
    report = InitReport()
    directory.mkdir(parents=True, exist_ok=True)
    _copy(gridaios_data.DEMO_CONFIG, directory / "site.yaml", report)
    _copy(
        gridaios_data.NETWORKS / "demo-feeder.yaml",
        directory / "networks" / "demo-feeder.yaml",
        report,
    )
    users = directory / "users.db"
    if users.exists():
        report.kept.append(users)
    else:
        from runtime.api.auth import UserStore  # creates the schema

        UserStore(users).close()
        report.created.append(users)
    pki = directory / "pki"
    (pki / "trusted").mkdir(parents=True, exist_ok=True)
    cert, key = pki / "client-cert.der", pki / "client-key.pem"
    if cert.exists() or key.exists():
        report.kept += [p for p in (cert, key) if p.exists()]
    else:
        cert_der, key_pem = client_certificate(
            application_uri, hostname or socket.gethostname(), now or datetime.now(UTC)
        )
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key_pem)
        cert.write_bytes(cert_der)
        report.created += [cert, key]
    return report


def _copy(src: Path, dst: Path, report: InitReport) -> None:
    if dst.exists():
        report.kept.append(dst)
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    report.created.append(dst)


def client_certificate(application_uri: str, hostname: str, now: datetime) -> tuple[bytes, bytes]:
    """(certificate DER, private key PEM): a self-signed OPC UA client application certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"gridaios@{hostname}"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "gridaios"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=CERT_DAYS))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(application_uri), x509.DNSName(hostname)]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=True,
                data_encipherment=True,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.DER), key_pem
