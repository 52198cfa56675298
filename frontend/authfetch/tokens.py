"""Reading what login and refresh responses say: the access token and its lifetime.

The JWT is read *without* verifying it: the client only wants ``exp - iat``, a duration that a
skewed client clock cannot distort. Verifying is the server's job.
"""

import binascii
import json

DEFAULT_TOKEN_FIELD = "data.accessToken"


def lookup(document, dotted):
    """``lookup({"data": {"a": 1}}, "data.a") == 1``; None when any step is missing."""
    value = document
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def jwt_claims(token):
    """The unverified claims of a JWT, or None if ``token`` is not one."""
    if not isinstance(token, str) or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    payload = payload.replace("-", "+").replace("_", "/")
    payload += "=" * (-len(payload) % 4)
    try:
        claims = json.loads(binascii.a2b_base64(payload.encode()))
    except (ValueError, TypeError):
        return None
    return claims if isinstance(claims, dict) else None


def _seconds(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    return float(value)


def lifetime(document, token=None):
    """Seconds the new access token lives, from ``data.expiresIn``, ``expires_in`` or the JWT."""
    for dotted in ("data.expiresIn", "expiresIn", "data.expires_in", "expires_in"):
        seconds = _seconds(lookup(document, dotted))
        if seconds is not None:
            return seconds
    claims = jwt_claims(token)
    if claims and _seconds(claims.get("exp")) and _seconds(claims.get("iat")):
        return _seconds(claims["exp"] - claims["iat"])
    return None
