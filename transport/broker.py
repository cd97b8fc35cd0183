"""Broker connection settings and a ready-configured paho-mqtt client.

`BrokerOptions.from_url("mqtts://user:pass@host:8883", ca_file=...)` parses what a
person types on the command line; `make_client(options, client_id)` returns a paho
client speaking MQTT 3.1.1 (the lowest common denominator of Mosquitto, amqtt, EMQX,
VerneMQ and cloud IoT brokers) with credentials, TLS and reconnect backoff set.
The caller owns the network loop (`loop_start()` / `loop_forever()`).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from shadow.errors import Unavailable, UsageError

DEFAULT_PORTS = {"mqtt": 1883, "tcp": 1883, "mqtts": 8883, "ssl": 8883}


class BrokerURLError(UsageError, ValueError):
    """A broker URL or TLS option that cannot be used (fix the command line: exit 2)."""


class BrokerUnavailable(Unavailable):
    """The broker cannot be reached, refused the connection, or did not answer (confirm
    documents, return retained ones) in time. Both sides raise it; both retry."""


@dataclass(frozen=True)
class BrokerOptions:
    host: str = "127.0.0.1"
    port: int = 1883
    tls: bool = False
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    keepalive: int = 30

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
    ) -> BrokerOptions:
        """Parse `mqtt[s]://[user[:pass]@]host[:port]`; a bare `host[:port]` means mqtt://."""
        if "://" not in url:
            url = "mqtt://" + url
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise BrokerURLError(
                f"broker URL {url!r}: scheme must be mqtt:// or mqtts://, got {scheme}://"
            )
        if not parts.hostname:
            raise BrokerURLError(f"broker URL {url!r} has no host")
        try:
            port = parts.port or DEFAULT_PORTS[scheme]
        except ValueError as exc:
            raise BrokerURLError(f"broker URL {url!r}: {exc}") from exc
        if (cert_file is None) != (key_file is None):
            raise BrokerURLError("--cert-file and --key-file go together")
        tls = scheme in ("mqtts", "ssl") or ca_file is not None or cert_file is not None
        return cls(
            host=parts.hostname,
            port=port,
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            ca_file=ca_file,
            cert_file=cert_file,
            key_file=key_file,
        )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> BrokerOptions:
        """From the arguments `add_broker_arguments` defined (broker must be set)."""
        options = cls.from_url(
            args.broker, ca_file=args.ca_file, cert_file=args.cert_file, key_file=args.key_file
        )
        options.check_files()
        return options

    def tls_files(self) -> list[tuple[str, str]]:
        """`(flag, path)` for each TLS file given, as the command line names them."""
        given = [
            ("--ca-file", self.ca_file),
            ("--cert-file", self.cert_file),
            ("--key-file", self.key_file),
        ]
        return [(flag, path) for flag, path in given if path is not None]

    def check_files(self) -> None:
        """Raise BrokerURLError naming the first TLS file that is missing or not a file."""
        for flag, path in self.tls_files():
            if not os.path.exists(path):
                raise BrokerURLError(f"{flag} {path}: no such file")
            if not os.path.isfile(path):
                raise BrokerURLError(f"{flag} {path}: not a file")

    @property
    def url(self) -> str:
        """The URL without the password, for logs."""
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


def positive_seconds(text: str) -> float:
    """argparse type for intervals: seconds above zero and finite (0 would spin in a loop)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (value > 0 and math.isfinite(value)):  # also rejects nan and inf
        raise argparse.ArgumentTypeError(f"must be above 0 seconds (and finite), got {text}")
    return value


def add_broker_arguments(parser: argparse.ArgumentParser, *, default: str | None) -> None:
    """The broker options every shoal command that talks MQTT accepts."""
    group = parser.add_argument_group("broker")
    group.add_argument(
        "--broker",
        default=default,
        metavar="URL",
        help="mqtt://[user:pass@]host:port or mqtts://... "
        + ("(default: %(default)s)" if default else "(default: start an embedded broker)"),
    )
    group.add_argument("--ca-file", metavar="FILE", help="CA bundle to verify the broker (TLS)")
    group.add_argument("--cert-file", metavar="FILE", help="client certificate (mutual TLS)")
    group.add_argument("--key-file", metavar="FILE", help="client private key (mutual TLS)")


def make_client(
    options: BrokerOptions,
    client_id: str,
    *,
    clean_session: bool = True,
    max_inflight: int = 100,
) -> mqtt.Client:
    """A paho client configured for `options`; not yet connected."""
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv311,
        clean_session=clean_session,
    )
    if options.username is not None:
        client.username_pw_set(options.username, options.password)
    if options.tls:
        options.check_files()
        try:
            client.tls_set(
                ca_certs=options.ca_file,
                certfile=options.cert_file,
                keyfile=options.key_file,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        except (OSError, ssl.SSLError) as exc:
            files = ", ".join(f"{flag} {path}" for flag, path in options.tls_files())
            where = f" ({files})" if files else ""
            raise BrokerURLError(f"TLS settings{where} cannot be used: {exc}") from exc
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    client.max_inflight_messages_set(max_inflight)
    # The last net under every callback: an exception one of ours lets through is logged
    # ("Caught exception in on_message: ...") and paho's network thread goes on.
    client.suppress_exceptions = True
    client.enable_logger(logging.getLogger("transport.paho"))
    client.max_queued_messages_set(0)
    return client


def describe_disconnect(reason: object) -> str:
    """Why a connection was lost, in words an operator can act on.

    paho reports a dropped socket (broker killed, network gone) as reason code 128,
    "Unspecified error", which says nothing; other reason codes read well as they are.
    """
    if getattr(reason, "value", None) == 128:
        return "the connection closed unexpectedly"
    return str(reason)
