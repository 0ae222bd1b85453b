"""Listener security settings become the same client options for every Kafka client."""

from __future__ import annotations

import ssl

import faust
import pytest
from pydantic import SecretStr, ValidationError

from ragstream.kafka import faust_credentials, security_options
from ragstream.settings import KafkaSettings

pytestmark = pytest.mark.unit


def test_plaintext_needs_nothing_else() -> None:
    assert security_options(KafkaSettings()) == {"security_protocol": "PLAINTEXT"}
    assert faust_credentials(KafkaSettings()) is None


def test_sasl_credentials_reach_aiokafka_and_faust() -> None:
    kafka = KafkaSettings(
        security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
        sasl_username="svc", sasl_password=SecretStr("s3cret"),
    )  # fmt: skip
    options = security_options(kafka)
    assert options == {
        "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "svc", "sasl_plain_password": "s3cret",
    }  # fmt: skip
    credentials = faust_credentials(kafka)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.username == "svc" and credentials.password == "s3cret"
    assert "s3cret" not in repr(kafka)  # the secret never shows in logs of the settings


def test_tls_builds_a_verifying_context() -> None:
    options = security_options(KafkaSettings(security_protocol="SASL_SSL", sasl_username="svc"))
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED
    assert isinstance(faust_credentials(KafkaSettings(security_protocol="SSL")), faust.SSLCredentials)


def test_sasl_without_a_username_is_refused_at_start_up() -> None:
    with pytest.raises(ValidationError, match="sasl_username is required"):
        KafkaSettings(security_protocol="SASL_SSL")


def test_an_unknown_protocol_is_refused() -> None:
    with pytest.raises(ValidationError):
        KafkaSettings(security_protocol="TLS")  # type: ignore[arg-type]
