"""Access tokens (JWT, PyJWT) and refresh tokens (opaque, rotating, reuse-detecting).

Rules, as RFC 9700 section 4.14 and Auth0's rotation describe them:
- access tokens are HS256 JWTs signed with a secret drawn at start; the header is checked before
  PyJWT verifies (no ``alg`` but HS256, no foreign ``kid``, no ``jku``/``jwk``/``x5u``);
- refresh tokens are 256 random bits, stored only as SHA-256 hashes, each with its family, parent
  and state; rotation is one step under a lock, so two refreshes with the same token never both
  mint a successor;
- a rotated token presented again revokes its whole family, except the immediate predecessor
  inside the grace window, which gets the *same* successor (so a retry after a lost response
  does not log the user out);
- idle lifetime counts from the token's issue, absolute lifetime from the family's login and is
  never extended by rotation.
"""

import hashlib
import secrets
import threading

import jwt

ALGORITHM = "HS256"
FORBIDDEN_HEADERS = ("jku", "jwk", "x5u", "x5c")


class TokenRejected(Exception):
    """A token that must not be honoured; ``reason`` is the machine-readable cause."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def _hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


class AccessTokens:
    def __init__(self, *, ttl, clock):
        self.ttl = ttl
        self.clock = clock
        self._secret = secrets.token_bytes(32)
        self._kid = secrets.token_hex(4)
        self._serial = 0
        # Tokens with a serial below this were revoked by /__stub__/expire.
        self.min_serial = 0

    def issue(self, *, user, family):
        now = self.clock()
        self._serial += 1
        claims = {
            "sub": user,
            "fam": family,
            "sn": self._serial,
            "iat": int(now),
            "exp": int(now + self.ttl),
            "typ": "access",
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM, headers={"kid": self._kid})

    def expire_all(self):
        self.min_serial = self._serial + 1

    def claims(self, token, *, verify_exp=True):
        """The verified claims of ``token``, or TokenRejected."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRejected("malformed") from None
        if header.get("alg") != ALGORITHM:
            raise TokenRejected("algorithm")
        if header.get("kid") != self._kid or any(h in header for h in FORBIDDEN_HEADERS):
            raise TokenRejected("key")
        try:
            # exp is checked against the stub's own (shiftable) clock below, not the host's.
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"verify_exp": False, "verify_iat": False, "require": ["exp", "sub", "sn"]},
            )
        except jwt.PyJWTError:
            raise TokenRejected("signature") from None
        if claims.get("typ") != "access":
            raise TokenRejected("type")
        if verify_exp and (claims["exp"] <= self.clock() or claims["sn"] < self.min_serial):
            raise TokenRejected("expired")
        return claims


class RefreshOutcome:
    def __init__(self, *, user, family, token, reused_grace=False):
        self.user = user
        self.family = family
        self.token = token
        self.reused_grace = reused_grace


class RefreshStore:
    def __init__(self, *, idle, absolute, grace, clock, stats):
        self.idle = idle
        self.absolute = absolute
        self.grace = grace
        self.clock = clock
        self.stats = stats
        self._lock = threading.Lock()
        self._tokens = {}  # hash -> record dict
        self._families = {}  # family id -> {"user", "started", "revoked"}

    def login(self, user):
        """Start a new family; returns (family, refresh token)."""
        with self._lock:
            family = secrets.token_hex(8)
            self._families[family] = {"user": user, "started": self.clock(), "revoked": False}
            return family, self._mint(family, parent=None)

    def _mint(self, family, *, parent):
        token = secrets.token_urlsafe(32)
        self._tokens[_hash(token)] = {
            "family": family,
            "parent": parent,
            "state": "active",
            "issued": self.clock(),
            "rotated_at": None,
            "successor": None,
            # Plain successor kept only while the grace window can hand it out again.
            "grace_successor": None,
        }
        return token

    def rotate(self, token):
        """Trade ``token`` for its successor, atomically; RefreshOutcome or TokenRejected."""
        with self._lock:
            now = self.clock()
            record = self._tokens.get(_hash(token or ""))
            if record is None:
                raise TokenRejected("unknown")  # garbage: nothing to revoke
            family = self._families[record["family"]]
            if family["revoked"]:
                raise TokenRejected("revoked")
            if now - family["started"] > self.absolute:
                raise TokenRejected("absolute_lifetime")
            if record["state"] == "rotated":
                successor = self._tokens.get(record["successor"])
                in_grace = (
                    self.grace > 0
                    and record["grace_successor"] is not None
                    and now - record["rotated_at"] <= self.grace
                    and successor is not None
                    and successor["state"] == "active"
                )
                if in_grace:
                    return RefreshOutcome(
                        user=family["user"],
                        family=record["family"],
                        token=record["grace_successor"],
                        reused_grace=True,
                    )
                self._revoke(record["family"])
                self.stats.bump("reuse_detected")
                raise TokenRejected("refresh_token_reused")
            if now - record["issued"] > self.idle:
                raise TokenRejected("idle_lifetime")
            successor_token = self._mint(record["family"], parent=_hash(token))
            record["state"] = "rotated"
            record["rotated_at"] = now
            record["successor"] = _hash(successor_token)
            if self.grace > 0:
                record["grace_successor"] = successor_token
            # Only the immediate predecessor may use the grace window: forget older plain tokens.
            if record["parent"] in self._tokens:
                self._tokens[record["parent"]]["grace_successor"] = None
            self.stats.bump("rotations")
            return RefreshOutcome(user=family["user"], family=record["family"], token=successor_token)

    def remaining(self, family):
        """Seconds left of the family's absolute lifetime (what the refresh cookie may still live)."""
        return max(0.0, self._families[family]["started"] + self.absolute - self.clock())

    def family_of(self, token):
        record = self._tokens.get(_hash(token or ""))
        return record and record["family"]

    def revoke(self, family):
        with self._lock:
            if family in self._families and not self._families[family]["revoked"]:
                self._revoke(family)

    def _revoke(self, family):
        self._families[family]["revoked"] = True
        for record in self._tokens.values():
            if record["family"] == family:
                record["state"] = "revoked"
                record["grace_successor"] = None
        self.stats.bump("revocations")

    def family_live(self, family):
        fam = self._families.get(family)
        return bool(fam) and not fam["revoked"]
