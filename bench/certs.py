"""A throwaway self-signed certificate for the MQTT-over-TLS scenarios,
made with openssl as the tests make theirs: one per run, for the hubs and
Mosquitto alike, in a folder of its own that the runner removes."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Optional


class CertificateError(RuntimeError):
    """openssl is missing or failed."""


def make_certificate(directory: Path, name: str = "bench") -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1 and its key, both PEM.

    Both are left readable by every user, the folder too: Mosquitto started
    as root reads them only after it has dropped to a user of its own.
    """
    if shutil.which("openssl") is None:
        raise CertificateError("openssl is not installed (Debian: apt install openssl)")
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    done = subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", f"/CN={name}",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        capture_output=True, text=True,
    )
    if done.returncode != 0:
        raise CertificateError(f"openssl failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    os.chmod(directory, 0o755)
    for path in (cert, key):
        os.chmod(path, 0o644)
    return cert, key


@contextlib.contextmanager
def temporary(wanted: bool = True) -> Iterator[Optional[tuple[Path, Path]]]:
    """make_certificate in a new temporary folder, removed at the end; None
    when not ``wanted``."""
    if not wanted:
        yield None
        return
    directory = Path(tempfile.mkdtemp(prefix="picloud-bench-tls-"))
    try:
        yield make_certificate(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
