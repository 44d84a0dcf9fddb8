"""The bot's Bot Connector tokens from msal against a fake Entra ID authority: with a secret or
a certificate, from msal's cache, and failures that say whether a retry can help."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import jwt
import pytest
from microsoft_teams.api.auth.credentials import TokenProviderProtocol

from handlers.teams.tokens import BOT_SCOPE, BotTokens, TokenUnavailable
from tests.fakes.entra import (
    BOT_APP_ID,
    BOT_SECRET,
    FakeEntra,
    app_certificate,
    bot_registration,
    entra,
)
from tests.fakes.loopback import bound_socket

__all__ = ["entra"]

BOT_FRAMEWORK = "https://api.botframework.com"


async def test_a_secret_gets_a_bot_framework_token(entra: FakeEntra) -> None:
    token = await BotTokens(bot_registration(entra)).token()

    claims = entra.claims(token, BOT_FRAMEWORK)
    assert claims is not None
    assert claims["appid"] == BOT_APP_ID
    [call] = entra.token_calls()
    assert call.path == f"/{entra.tenant}/oauth2/v2.0/token"
    assert call.form is not None
    assert call.form["scope"] == BOT_SCOPE
    assert call.form["grant_type"] == "client_credentials"
    assert call.form["client_secret"] == BOT_SECRET


async def test_a_certificate_gets_a_token_by_signed_assertion(
    entra: FakeEntra,
) -> None:
    creds = bot_registration(entra, certificate=True)
    token = await BotTokens(creds).token()

    assert entra.claims(token, BOT_FRAMEWORK) is not None
    [call] = entra.token_calls()
    assert call.form is not None
    assert "client_secret" not in call.form
    header = jwt.get_unverified_header(call.form["client_assertion"])
    assert header["alg"] == "RS256" and header["x5t"]


async def test_a_certificate_the_authority_does_not_know_is_refused(
    entra: FakeEntra,
) -> None:
    creds = bot_registration(entra, certificate=True)
    other_pem, _ = app_certificate("Someone else")
    with pytest.raises(TokenUnavailable) as refused:
        await BotTokens(dataclasses.replace(creds, certificate_pem=other_pem)).token()
    assert refused.value.permanent


async def test_a_pem_whose_key_fits_no_certificate_is_permanent(
    entra: FakeEntra,
) -> None:
    creds = bot_registration(entra, certificate=True)
    assert creds.certificate_pem is not None
    key_only = creds.certificate_pem[creds.certificate_pem.index("-----BEGIN RSA") :]
    other_cert = app_certificate()[0].split("-----BEGIN RSA")[0]
    with pytest.raises(TokenUnavailable) as refused:
        await BotTokens(dataclasses.replace(creds, certificate_pem=other_cert + key_only)).token()
    assert refused.value.permanent
    assert entra.token_calls() == []


async def test_tokens_come_from_the_cache_until_forgotten(entra: FakeEntra) -> None:
    tokens = BotTokens(bot_registration(entra))
    first = await tokens.token()
    again = await asyncio.gather(*(tokens.token() for _ in range(20)))
    assert set(again) == {first}
    assert len(entra.token_calls()) == 1

    await tokens.forget()  # a service refused it
    assert await tokens.token() != first
    assert len(entra.token_calls()) == 2


async def test_the_teams_sdk_can_ask_for_tokens(entra: FakeEntra) -> None:
    tokens = BotTokens(bot_registration(entra))
    assert isinstance(tokens, TokenProviderProtocol)
    token = await tokens.get_app_token(BOT_SCOPE, "some-other-tenant")
    assert entra.claims(token, BOT_FRAMEWORK) is not None
    graph = await tokens.get_app_token("https://graph.microsoft.com/.default", None)
    assert entra.claims(graph, "https://graph.microsoft.com") is not None


@pytest.mark.parametrize(
    ("status", "error", "permanent"),
    [
        (401, "invalid_client", True),
        (400, "unauthorized_client", True),
        (400, "temporarily_unavailable", False),
        (429, "temporarily_unavailable", False),
        (500, "server_error", False),
        (503, "temporarily_unavailable", False),
    ],
)
async def test_failures_say_whether_a_retry_can_help(
    entra: FakeEntra,
    caplog: pytest.LogCaptureFixture,
    status: int,
    error: str,
    permanent: bool,
) -> None:
    entra.fail(status, error=error)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TokenUnavailable) as refused:
        await BotTokens(bot_registration(entra)).token()
    assert refused.value.permanent is permanent
    assert BOT_SECRET not in str(refused.value)
    assert BOT_SECRET not in caplog.text


async def test_a_wrong_secret_is_permanent_and_never_shown(
    entra: FakeEntra,
    caplog: pytest.LogCaptureFixture,
) -> None:
    creds = dataclasses.replace(bot_registration(entra), password="not-the-secret")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TokenUnavailable) as refused:
        await BotTokens(creds).token()
    assert refused.value.permanent
    assert "invalid_client" in refused.value.reason
    assert "not-the-secret" not in str(refused.value)
    assert "not-the-secret" not in caplog.text


async def test_an_authority_that_does_not_answer_is_transient(
    entra: FakeEntra,
) -> None:
    closed = bound_socket()  # bound, never listening: connections are refused
    port = closed.getsockname()[1]
    creds = dataclasses.replace(bot_registration(entra), authority_url=f"https://127.0.0.1:{port}")
    try:
        with pytest.raises(TokenUnavailable) as failed:
            await BotTokens(creds).token()
    finally:
        closed.close()
    assert not failed.value.permanent
