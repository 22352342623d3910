"""Kafka TLS/SASL settings reach every client: aiokafka producers/consumers and Faust."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators import kafka_io
from simulators.settings import Settings

CA_PEM = """\
-----BEGIN CERTIFICATE-----
MIIBlTCCATugAwIBAgIUO+fKYCQz4TuOzyWyKRLB2eKljUgwCgYIKoZIzj0EAwIw
HzEdMBsGA1UEAwwUcGF0cm9sc3RyZWFtIHRlc3QgQ0EwIBcNMjYxMTIxMTUzNjU3
WhgPMjEyNjEwMjgxNTM2NTdaMB8xHTAbBgNVBAMMFHBhdHJvbHN0cmVhbSB0ZXN0
IENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEHxB8D9HCTxRaFsP2SlVyVfsq
yK+0oOJ9MVh84T8C38S0dX7aCuTNS/kcw8bT2PX3FdQalwO3uYpRcHRDvOKSLqNT
MFEwHQYDVR0OBBYEFB3hNBM0Z1IVnHbbOvEgpqQc7R62MB8GA1UdIwQYMBaAFB3h
NBM0Z1IVnHbbOvEgpqQc7R62MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwID
SAAwRQIhANxPJ0+FmuSbrfyQDxmsNHHhbrOAN8MjPV7zqPJvIRZhAiAMqmAJ7anK
asbojV3LLq+P35PswtRw4/97dJ8yFnb/8Q==
-----END CERTIFICATE-----
"""
"""A self-signed test CA (openssl req -x509, EC P-256): only loaded, never used to connect."""


@pytest.fixture
def cafile(tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    path.write_text(CA_PEM)
    return str(path)


def sasl_ssl(cafile: str) -> dict[str, str]:
    return {
        "PATROLSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "PATROLSTREAM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "PATROLSTREAM_KAFKA_SASL_USERNAME": "dispatch-svc",
        "PATROLSTREAM_KAFKA_SASL_PASSWORD": "pw-from-env",
        "PATROLSTREAM_KAFKA_SSL_CAFILE": cafile,
    }


def client_config(client: object) -> dict[str, object]:
    kafka_client = getattr(client, "_client", None) or client.client  # type: ignore[attr-defined]
    inner = vars(kafka_client)
    return {k.lstrip("_"): v for k, v in inner.items() if k.startswith(("_sasl", "_secur", "_ssl"))}


async def test_environment_settings_reach_producer_and_consumer(
    monkeypatch: pytest.MonkeyPatch, cafile: str
) -> None:
    for k, v in sasl_ssl(cafile).items():
        monkeypatch.setenv(k, v)
    producer = kafka_io.make_producer(["localhost:1"])  # settings from the environment
    consumer = kafka_io.make_consumer(["localhost:1"])
    try:
        for client in (producer, consumer):
            cfg = client_config(client)
            assert cfg["security_protocol"] == "SASL_SSL"
            assert cfg["sasl_mechanism"] == "SCRAM-SHA-512"
            assert cfg["sasl_plain_username"] == "dispatch-svc"
            assert cfg["sasl_plain_password"] == "pw-from-env"
            ctx = cfg["ssl_context"]
            assert ctx.cert_store_stats()["x509_ca"] == 1  # our CA, not the system's
    finally:
        await producer.stop()
        await consumer.stop()


async def test_plaintext_adds_nothing_and_overrides_still_win() -> None:
    assert kafka_io.client_security(Settings()) == {}
    producer = kafka_io.make_producer(["localhost:1"], Settings(), client_id="x")
    try:
        assert client_config(producer)["security_protocol"] == "PLAINTEXT"
        assert producer.client._client_id == "x"  # a caller's override still wins
    finally:
        await producer.stop()


def test_faust_broker_credentials_of_the_worker_app(tmp_path: Path, cafile: str) -> None:
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    from streams.app import create_app

    env = {**sasl_ssl(cafile), "PATROLSTREAM_KAFKA_SASL_MECHANISM": "PLAIN"}
    settings = Settings.from_env(env).override(
        app_id="sec-test", store="memory://", data_dir=str(tmp_path), arrest_model="none"
    )
    patrol = create_app(settings)
    auth = credentials_to_aiokafka_auth(patrol.app.conf.broker_credentials)
    assert auth["security_protocol"] == "SASL_SSL"
    assert auth["sasl_mechanism"] == "PLAIN"
    assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == (
        "dispatch-svc", "pw-from-env")  # fmt: skip
    assert auth["ssl_context"].cert_store_stats()["x509_ca"] == 1

    tls = Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=cafile)
    auth = credentials_to_aiokafka_auth(kafka_io.faust_credentials(tls))
    assert auth["security_protocol"] == "SSL" and "sasl_mechanism" not in auth
    assert kafka_io.faust_credentials(Settings()) is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kafka_security_protocol": "TLS"}, "kafka_security_protocol: 'TLS' is not one of"),
        ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_username": "u",
          "kafka_sasl_mechanism": "GSSAPI"}, "kafka_sasl_mechanism: 'GSSAPI' is not one of"),
        ({"kafka_security_protocol": "SASL_SSL"}, "kafka_sasl_username: required with SASL_SSL"),
    ],
)  # fmt: skip
def test_bad_security_settings_name_the_field(fields: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        kafka_io.client_security(Settings(**fields))
