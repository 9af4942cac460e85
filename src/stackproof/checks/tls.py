"""TLS evidence: one sslyze scan of the public front, plus direct handshakes per version.

Two views on purpose: sslyze (with its own legacy OpenSSL, so SSLv2/SSLv3 can be probed)
and the Python `ssl` module a real client uses. A finding should not hinge on one library.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import warnings
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from sslyze import (
    CertificateInfoExtraArgument,
    ScanCommand,
    ScanCommandAttemptStatusEnum,
    ScanCommandsExtraArguments,
    Scanner,
    ServerNetworkLocation,
    ServerScanRequest,
    ServerScanResult,
    ServerScanStatusEnum,
)
from sslyze.mozilla_tls_profile.tls_config_checker import (
    SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
)

from stackproof.backends.values import PublicFront

VERSION_FIELDS = {
    "SSLv2": "ssl_2_0_cipher_suites",
    "SSLv3": "ssl_3_0_cipher_suites",
    "TLSv1": "tls_1_0_cipher_suites",
    "TLSv1.1": "tls_1_1_cipher_suites",
    "TLSv1.2": "tls_1_2_cipher_suites",
    "TLSv1.3": "tls_1_3_cipher_suites",
}
PYTHON_VERSIONS = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


class ScanFailedError(RuntimeError):
    """sslyze could not complete the scan (unreachable, not TLS, ...)."""


def _ip_of(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def scan(front: PublicFront) -> ServerScanResult:
    """Everything the Mozilla checker needs, plus session resumption."""
    location = ServerNetworkLocation(
        front.host, front.https.port, ip_address=_ip_of(front.https.host)
    )
    extra = (
        ScanCommandsExtraArguments(
            certificate_info=CertificateInfoExtraArgument(custom_ca_file=Path(front.ca_bundle))
        )
        if front.ca_bundle
        else ScanCommandsExtraArguments()
    )
    request = ServerScanRequest(
        server_location=location,
        scan_commands=SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER | {ScanCommand.SESSION_RESUMPTION},
        scan_commands_extra_arguments=extra,
    )
    scanner = Scanner()
    scanner.queue_scans([request])
    result = next(iter(scanner.get_results()))
    if result.scan_status != ServerScanStatusEnum.COMPLETED or result.scan_result is None:
        raise ScanFailedError(
            f"sslyze could not scan {front.host}:{front.https.port}: "
            f"{result.connectivity_error_trace or result.scan_status.name}"
        )
    failed = [
        command.value
        for command in request.scan_commands
        if getattr(result.scan_result, command.value).status
        != ScanCommandAttemptStatusEnum.COMPLETED
    ]
    if failed:
        raise ScanFailedError(f"sslyze scan commands did not complete: {', '.join(sorted(failed))}")
    return result


def accepted_suites(result: ServerScanResult) -> dict[str, list[str]]:
    """Cipher suites the server accepted, by protocol version (versions it refused: absent)."""
    assert result.scan_result is not None
    found: dict[str, list[str]] = {}
    for version, attribute in VERSION_FIELDS.items():
        attempt = getattr(result.scan_result, attribute).result
        if attempt is not None and attempt.is_tls_version_supported:
            found[version] = sorted(s.cipher_suite.name for s in attempt.accepted_cipher_suites)
    return found


@dataclass(frozen=True, slots=True)
class Handshake:
    version: str
    accepted: bool | None  # None: this client cannot offer the version at all
    detail: str


def _connect(front: PublicFront, context: ssl.SSLContext, timeout_s: float) -> ssl.SSLSocket:
    raw = socket.create_connection((front.https.host, front.https.port), timeout_s)
    try:
        return context.wrap_socket(raw, server_hostname=front.host)
    except BaseException:
        raw.close()
        raise


def _unverified_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # what is under test is not the certificate
    return context


def handshake(front: PublicFront, version: str, timeout_s: float = 5.0) -> Handshake:
    """Offer exactly `version` with every cipher this client knows; report what happened."""
    context = _unverified_context()
    try:
        with warnings.catch_warnings():
            # Offering deprecated versions is the point: a server must be seen refusing them.
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = context.maximum_version = PYTHON_VERSIONS[version]
        context.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError) as error:
        return Handshake(version, None, f"this client cannot offer {version}: {error}")
    try:
        with _connect(front, context, timeout_s) as tls:
            cipher = tls.cipher()
            return Handshake(
                version, True, f"negotiated {tls.version()} {cipher[0] if cipher else ''}"
            )
    except ssl.SSLError as error:
        if error.reason == "NO_PROTOCOLS_AVAILABLE":
            return Handshake(version, None, f"this client cannot offer {version}")
        return Handshake(version, False, f"refused: {error.reason or error}")
    except OSError as error:
        return Handshake(version, False, f"connection ended: {error}")


@dataclass(frozen=True, slots=True)
class PeerCertificate:
    names_match: bool
    name_error: str | None
    not_after: dt.datetime


def peer_certificate(front: PublicFront, timeout_s: float = 5.0) -> PeerCertificate:
    """Verify chain and public host name as a browser would; read the expiry either way."""
    with _connect(front, _unverified_context(), timeout_s) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    not_after = x509.load_der_x509_certificate(der).not_valid_after_utc
    verifying = ssl.create_default_context(cafile=str(front.ca_bundle) if front.ca_bundle else None)
    try:
        with _connect(front, verifying, timeout_s):
            return PeerCertificate(True, None, not_after)
    except ssl.SSLCertVerificationError as error:
        return PeerCertificate(False, error.verify_message or str(error), not_after)
