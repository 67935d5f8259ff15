"""asyncua exceptions translated into connector errors that say what to do next."""

from __future__ import annotations

from asyncua import ua

from connectors.errors import ConnectorAuthFailed, ConnectorError, ConnectorNotReady

_AUTH = {
    ua.StatusCodes.BadUserAccessDenied,
    ua.StatusCodes.BadIdentityTokenInvalid,
    ua.StatusCodes.BadIdentityTokenRejected,
    ua.StatusCodes.BadCertificateUntrusted,
    ua.StatusCodes.BadCertificateInvalid,
    ua.StatusCodes.BadCertificateTimeInvalid,
    ua.StatusCodes.BadCertificateUriInvalid,
    ua.StatusCodes.BadCertificateUseNotAllowed,
    ua.StatusCodes.BadCertificateRevoked,
    ua.StatusCodes.BadSecurityChecksFailed,
    ua.StatusCodes.BadSecurityPolicyRejected,
}


def connect_error(source: str, endpoint: str, err: BaseException) -> ConnectorError:
    if isinstance(err, ua.UaStatusCodeError) and err.code in _AUTH:
        name = ua.StatusCode(err.code).name
        return ConnectorAuthFailed(
            f"OPC UA source {source}: {endpoint} refused us ({name}); check the client "
            "certificate is trusted by the server, the server certificate is in trust_dir, "
            "and the username/password"
        )
    if isinstance(err, ua.UaError) and "certificate" in str(err).lower():
        return ConnectorAuthFailed(f"OPC UA source {source}: {endpoint}: {err}")
    return ConnectorNotReady(f"OPC UA source {source}: cannot connect to {endpoint}: {err!r}")
