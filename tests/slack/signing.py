"""Signing test requests the way Slack does (v0 HMAC-SHA256 over `v0:{timestamp}:{body}`)."""

from __future__ import annotations

import time

from slack_sdk.signature import SignatureVerifier

SECRET = "slis-test-signing-secret"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def signed_headers(
    body: str, *, content_type: str = FORM, secret: str = SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """Headers for a request Slack would send with `body`, signed now (or at `timestamp`)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }
