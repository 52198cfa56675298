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
    except Exception:  # not base64, not JSON, nested too deep: not a JWT we can read
        return None
    return claims if isinstance(claims, dict) else None


def _number(value):
    return not isinstance(value, bool) and isinstance(value, (int, float))


LIFETIME_FIELDS = ("data.expiresIn", "expiresIn", "data.expires_in", "expires_in")


def raw_lifetime(document, token=None):
    """What the answer says the new access token lives, as written (inputs.lifetime checks it):
    ``data.expiresIn``, ``expires_in`` and the like, else the JWT's ``exp - iat``; None if nothing."""
    for dotted in LIFETIME_FIELDS:
        value = lookup(document, dotted)
        if value is not None:
            return value
    claims = jwt_claims(token)
    if claims and _number(claims.get("exp")) and _number(claims.get("iat")):
        return claims["exp"] - claims["iat"]
    return None
