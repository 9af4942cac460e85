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
from stackproof.checks.http import unverified
from stackproof.errors import PreconditionError

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


def _tcp(front: PublicFront, timeout_s: float) -> socket.socket:
    """A connection to the front; one that cannot be made keeps a check from judging."""
    try:
        return socket.create_connection((front.https.host, front.https.port), timeout_s)
    except OSError as error:
        raise PreconditionError(
            f"cannot connect to the front at {front.https.address}: {error}"
        ) from error


def _connect(front: PublicFront, context: ssl.SSLContext, timeout_s: float) -> ssl.SSLSocket:
    raw = _tcp(front, timeout_s)
    try:
        return context.wrap_socket(raw, server_hostname=front.host)
    except BaseException:
        raw.close()
        raise


def _unverified_context() -> ssl.SSLContext:
    return unverified()  # what is under test is not the certificate


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


@dataclass(frozen=True, slots=True)
class Resumption:
    version: str
    attempted: int
    resumed: int
    ticket_lifetime_s: int | None  # the lifetime hint of the session's ticket, if it had one


def _one_session(
    front: PublicFront, context: ssl.SSLContext, session: ssl.SSLSession | None, timeout_s: float
) -> tuple[ssl.SSLSession | None, bool]:
    raw = _tcp(front, timeout_s)
    with context.wrap_socket(raw, server_hostname=front.host, session=session) as tls:
        # TLS 1.3 sends its session tickets after the handshake: read an answer first.
        request = f"HEAD / HTTP/1.1\r\nHost: {front.https_authority}\r\nConnection: close\r\n\r\n"
        tls.sendall(request.encode())
        while tls.recv(4096):
            pass
        return tls.session, bool(tls.session_reused)


def resumption(
    front: PublicFront, version: str = "TLSv1.3", attempts: int = 3, timeout_s: float = 5.0
) -> Resumption:
    """Take a session with exactly `version`, then offer it `attempts` times: how many resumed."""
    context = _unverified_context()
    context.minimum_version = context.maximum_version = PYTHON_VERSIONS[version]
    first, _ = _one_session(front, context, None, timeout_s)
    resumed = sum(_one_session(front, context, first, timeout_s)[1] for _ in range(attempts))
    hint = first.ticket_lifetime_hint if first is not None and first.has_ticket else None
    return Resumption(version, attempts, resumed, hint)
