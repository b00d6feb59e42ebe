"""TLS and token auth against real hub processes."""

from __future__ import annotations

import json
import ssl
import time
import urllib.request

import pytest
import trustme
from websockets.exceptions import InvalidStatus

from earlgate.hub.auth import make_token
from wsclient import WsClient

SECRET = "a-shared-secret-of-at-least-32-bytes!"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    return str(cert_file), str(key_file), client_context


async def test_tls_serves_wss_and_https(hub_factory, tls_files):
    cert, key, context = tls_files
    hub = hub_factory("--tls-cert", cert, "--tls-key", key)
    assert hub.ws_url.startswith("wss://")
    async with await WsClient.open(hub.ws_url, ssl=context) as client:
        assert await client.request({"type": "ping", "id": 1}) == {"type": "pong", "id": 1}
    with urllib.request.urlopen(f"{hub.http_url}/healthz", context=context, timeout=5) as answer:
        assert json.loads(answer.read())["status"] == "ok"
    # A client that does not trust the certificate is refused.
    with pytest.raises(ssl.SSLCertVerificationError):
        await WsClient.open(hub.ws_url, ssl=ssl.create_default_context())


@pytest.fixture(scope="module")
def auth_hub():
    from hubproc import start_hub

    hub = start_hub("--auth-secret", SECRET)
    yield hub
    hub.stop()


async def test_missing_token_is_401(auth_hub):
    with pytest.raises(InvalidStatus) as refused:
        await WsClient.open(auth_hub.ws_url)
    assert refused.value.response.status_code == 401


@pytest.mark.parametrize(
    "token",
    [
        make_token(SECRET, ["a/#"], ["a/#"], ttl=-10),  # expired
        make_token("another-secret-of-at-least-32-bytes", ["a/#"], ["a/#"]),  # wrong signature
        "not.a.jwt",
    ],
    ids=["expired", "bad-signature", "garbage"],
)
async def test_bad_tokens_are_401(auth_hub, token):
    with pytest.raises(InvalidStatus) as refused:
        await WsClient.open(f"{auth_hub.ws_url}?token={token}")
    assert refused.value.response.status_code == 401
    assert b"token" in refused.value.response.body


async def test_allowed_and_forbidden_by_claims(auth_hub):
    token = make_token(SECRET, publish=["earl/arm-07/#"], subscribe=["earl/+/accel"])
    header = {"Authorization": f"Bearer {token}"}
    async with (
        await WsClient.open(auth_hub.ws_url, additional_headers=header) as client,
        await WsClient.open(f"{auth_hub.ws_url}?token={token}") as other,
    ):
        assert (await client.request({"type": "subscribe", "subject": "earl/+/accel", "id": 1}))[
            "type"
        ] == "ack"
        assert (
            await other.request({"type": "subscribe", "subject": "earl/arm-07/accel", "id": 1})
        )["type"] == "ack"
        for pattern in ("earl/#", "earl/x/gyro", "other"):
            answer = await client.request({"type": "subscribe", "subject": pattern, "id": 2})
            assert answer["code"] == "forbidden", pattern
        answer = await client.request({"type": "publish", "subject": "earl/arm-08/accel", "id": 3})
        assert answer["code"] == "forbidden"
        await client.send({"type": "publish", "subject": "earl/arm-07/accel", "data": 1})
        assert (await client.recv())["data"] == 1
        assert (await other.recv())["data"] == 1


def test_http_publish_needs_a_token(auth_hub):
    url = f"{auth_hub.http_url}/publish"
    body = b'{"type":"publish","subject":"a/b"}'
    request = urllib.request.Request(url, data=body)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 401
    refused.value.close()
    token = make_token(SECRET, publish=["a/#"], ttl=60, now=time.time())
    request = urllib.request.Request(url, data=body, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert json.loads(answer.read())["type"] == "ack"
    request = urllib.request.Request(
        url, data=b'{"type":"publish","subject":"b"}', headers={"Authorization": f"Bearer {token}"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 403
    refused.value.close()
