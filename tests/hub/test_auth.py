"""How a presented key is checked (picloud/hub/auth.py)."""

from __future__ import annotations

from picloud.hub.auth import Authenticator
from picloud.hub.keys import ADMIN_GRANT


def test_role_of_matches_exactly():
    auth = Authenticator({"s3cret": ADMIN_GRANT})
    assert auth.role_of("s3cret") == "admin"
    for wrong in (None, "", "S3CRET", "s3cret ", "s3cre", "s3crets", "\udcff"):
        assert auth.role_of(wrong) is None


def test_open_authenticator_admits_everyone():
    auth = Authenticator(None)
    assert auth.open and auth.role_of(None) == "admin"


def test_every_key_is_compared_whatever_matches(monkeypatch):
    """Constant time: the work done does not depend on which key (if any) matched."""
    from picloud.hub import auth as auth_module

    calls = []
    real = auth_module.hmac.compare_digest

    def counting(a, b):
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(auth_module.hmac, "compare_digest", counting)
    authenticator = auth_module.Authenticator({f"key-{i}": ADMIN_GRANT for i in range(5)})
    for presented in ("key-0", "key-4", "nope", "KEY-0"):
        calls.clear()
        authenticator.role_of(presented)
        assert len(calls) == 5, presented
