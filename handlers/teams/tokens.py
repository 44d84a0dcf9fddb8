"""App-only tokens for the Bot Connector, from msal, with the bot's secret or certificate."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import msal  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from bot.config import TeamsCredentials

log = logging.getLogger(__name__)

BOT_SCOPE = "https://api.botframework.com/.default"
# What the token endpoint answers that no retry can fix: the app registration, its secret or
# certificate, or the scope is wrong. Others (temporarily_unavailable, a 5xx...) may pass.
PERMANENT_ERRORS = frozenset(
    {
        "invalid_client",
        "unauthorized_client",
        "invalid_request",
        "invalid_scope",
        "invalid_grant",
        "unsupported_grant_type",
    }
)


class TokenUnavailable(Exception):
    """No token now. `permanent`: retrying cannot help until the credentials are fixed. The
    message names msal's error code, never the secret or a token."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


def certificate_credential(pem: str) -> dict[str, str]:
    """msal's client credential for a PEM holding the certificate and its private key: the
    key alone, and the SHA-1 thumbprint of the certificate that matches it (what Entra ID
    shows for the certificate on the app registration)."""
    data = pem.encode()
    key = serialization.load_pem_private_key(data, password=None)
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for cert in x509.load_pem_x509_certificates(data):
        mine = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if mine == public:
            key_pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            # SHA-1 because msal signs with it as `x5t`, the thumbprint Entra ID matches.
            thumbprint = cert.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303
            return {"private_key": key_pem.decode(), "thumbprint": thumbprint}
    raise ValueError("no certificate in the PEM matches its private key")


class BotTokens:
    """The bot's tokens for the Bot Connector (or another scope it is asked for).

    msal keeps them in its own cache and answers from it until a token is close to expiry,
    so asking before every call costs one token request an hour. msal blocks, so it runs in a
    thread. Also the Teams SDK's token provider (`get_app_token`), for `App(token=...)` and
    `ApiClient(token_provider=...)`.
    """

    def __init__(self, creds: TeamsCredentials) -> None:
        self._creds = creds
        self._app: Any = None
        # Taken in msal's worker threads, so any event loop (the relay's, the SDK App's) can
        # ask. One caller at a time: callers that find the cache empty together would each
        # fetch a token.
        self._lock = threading.Lock()

    async def token(self, scope: str = BOT_SCOPE) -> str:
        """An access token for `scope`; raises TokenUnavailable."""
        try:
            result = await asyncio.to_thread(self._acquire, scope)
        except TokenUnavailable:
            raise
        except Exception as exc:
            # requests' connection errors and timeouts; msal's MsalServiceError for a 5xx.
            raise TokenUnavailable(
                f"token endpoint failed: {type(exc).__name__}", permanent=False
            ) from None
        token = result.get("access_token") if isinstance(result, dict) else None
        if token:
            return str(token)
        error = str(result.get("error") or "unknown") if isinstance(result, dict) else "unknown"
        log.warning("Entra ID refused the bot a token: %s", error)
        raise TokenUnavailable(f"token refused: {error}", permanent=error in PERMANENT_ERRORS)

    async def get_app_token(self, scope: str | list[str], tenant_id: str | None = None) -> str:
        """The Teams SDK's token provider call. The bot's app registration lives in one tenant
        and its tokens come from there, whichever tenant the SDK names."""
        wanted = scope if isinstance(scope, str) else " ".join(scope)
        return await self.token(wanted or BOT_SCOPE)

    async def forget(self) -> None:
        """Drop the cached tokens (a service refused one), so the next call gets a new one."""
        await asyncio.to_thread(self._forget)

    def _acquire(self, scope: str) -> Any:
        with self._lock:
            if self._app is None:
                # The constructor fetches the tenant's OpenID configuration.
                self._app = self._make_app()
            return self._app.acquire_token_for_client(scopes=[scope])

    def _forget(self) -> None:
        with self._lock:
            if self._app is not None:
                self._app.remove_tokens_for_client()

    def _make_app(self) -> Any:
        creds = self._creds
        credential: str | dict[str, str]
        if creds.certificate_pem is not None:
            try:
                credential = certificate_credential(creds.certificate_pem)
            except ValueError as exc:
                # cryptography's messages say what is wrong with the file, not what is in it.
                raise TokenUnavailable(f"bad certificate: {exc}", permanent=True) from None
        elif creds.password is not None:
            credential = creds.password
        else:
            raise TokenUnavailable("neither a password nor a certificate", permanent=True)
        try:
            return msal.ConfidentialClientApplication(
                creds.app_id,
                client_credential=credential,
                authority=f"{creds.authority_url.rstrip('/')}/{creds.tenant_id}",
                # The authority is configured explicitly: no instance discovery round trip.
                instance_discovery=False,
                token_cache=msal.TokenCache(),
            )
        except ValueError as exc:
            # msal says so for an authority that does not answer as one.
            raise TokenUnavailable(
                f"authority refused: {type(exc).__name__}", permanent=False
            ) from None
        except Exception as exc:
            raise TokenUnavailable(
                f"authority unreachable: {type(exc).__name__}", permanent=False
            ) from None
