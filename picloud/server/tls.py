"""TLS: the hub's certificate, loaded at start and again on SIGHUP (renewals)."""

from __future__ import annotations

import logging
import os
import ssl

from ..config import Config
from ..exceptions import ConfigError

log = logging.getLogger("picloud.server")


def tls_context(config: Config) -> ssl.SSLContext | None:
    if not config.tls:
        return None
    if not config.cert_file or not config.key_file:
        raise ConfigError("tls is on but CERT_FILE and KEY_FILE are not both set")
    for path in (config.cert_file, config.key_file):
        if not os.path.isfile(path):
            raise ConfigError(f"tls file not found: {path!r}")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(config.cert_file, config.key_file)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"cannot load tls certificate {config.cert_file!r} and key {config.key_file!r}: "
            f"{getattr(exc, 'reason', None) or exc}".lower()
        ) from None
    return context


def reload_tls(context: ssl.SSLContext | None, config: Config) -> bool:
    """Load renewed certificate files into the live context (on SIGHUP).

    New handshakes use them; open connections keep theirs. The files are
    tried on a scratch context first, because a failed ``load_cert_chain``
    can leave a context with the new certificate and the old key.
    """
    if context is None:
        log.info("sighup: tls is off, nothing to reload")
        return False
    try:
        tls_context(config)  # checks that both files are named and readable
        context.load_cert_chain(config.cert_file or "", config.key_file)
    except (ConfigError, ssl.SSLError, OSError) as exc:
        log.error("tls reload failed, keeping the current certificate: %s", exc)
        return False
    log.info("reloaded tls certificate %s", config.cert_file)
    return True
