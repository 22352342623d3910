"""Bearer tokens and roles of the dispatch API.

Tokens come from a file (``PATROLSTREAM_API_TOKENS_FILE``, JSON or TOML) and/or the
environment (``PATROLSTREAM_API_TOKENS``). Each entry maps a token to a role:

* ``dispatch``: read routes, hotspots, probabilities, boundaries; subscribe to the stream;
* ``admin``: all of that, and reload the arrest model.

A token may be given in clear or, preferably, as ``sha256:<64 hex digits>`` of the token (make
one with ``python -m streams.api.auth hash``). Only SHA-256 digests are kept in memory;
a presented token is hashed and compared with every digest with :func:`hmac.compare_digest`.

File formats (either a top-level table or one named ``tokens``)::

    {"tokens": {"sha256:9f86d0...": "dispatch", "sha256:60303a...": "admin"}}

    [tokens]
    "sha256:9f86d0..." = "dispatch"

Environment: a JSON object as above, or comma-separated ``token=role`` pairs.

Examples
--------
>>> store = TokenStore.from_mapping({"s3cret-token": "dispatch", hash_token("root"): "admin"})
>>> store.role_of("s3cret-token"), store.role_of("root"), store.role_of("nope")
('dispatch', 'admin', None)
>>> allowed("dispatch", "read"), allowed("dispatch", "reload"), allowed("admin", "reload")
(True, False, True)
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import hmac
import json
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROLES: Mapping[str, frozenset[str]] = {
    "dispatch": frozenset({"read", "subscribe"}),
    "admin": frozenset({"read", "subscribe", "reload"}),
}
"""Role -> permissions."""

HASH_PREFIX = "sha256:"


class TokenConfigError(ValueError):
    """A token file or variable that cannot be used; names the entry, never the token."""


def hash_token(token: str) -> str:
    """``sha256:<hex>`` of a token, the form to store in a token file.

    Examples
    --------
    >>> hash_token("test")
    'sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'
    """
    return HASH_PREFIX + hashlib.sha256(token.encode("utf-8")).hexdigest()


def allowed(role: str, permission: str) -> bool:
    """Whether ``role`` grants ``permission`` (``read``, ``subscribe`` or ``reload``)."""
    return permission in ROLES.get(role, frozenset())


@dataclass(frozen=True)
class TokenStore:
    """SHA-256 digests of the accepted tokens and their roles."""

    digests: tuple[tuple[bytes, str], ...] = ()

    @classmethod
    def from_mapping(cls, entries: Mapping[str, object], origin: str = "tokens") -> TokenStore:
        """From ``{token or sha256:hex: role}``; errors name the entry by position."""
        out: list[tuple[bytes, str]] = []
        for n, (key, role) in enumerate(entries.items(), start=1):
            where = f"{origin}: entry {n}"
            if not isinstance(key, str) or not key.strip():
                raise TokenConfigError(f"{where}: the token is empty")
            if not isinstance(role, str) or role not in ROLES:
                raise TokenConfigError(
                    f"{where}: role {role!r} is not one of {', '.join(sorted(ROLES))}"
                )
            if key.startswith(HASH_PREFIX):
                hexdigest = key[len(HASH_PREFIX) :].strip().lower()
                try:
                    digest = bytes.fromhex(hexdigest)
                except ValueError:
                    digest = b""
                if len(digest) != 32:
                    raise TokenConfigError(f"{where}: sha256 digest must be 64 hex digits")
            else:
                if len(key) < 8:
                    raise TokenConfigError(f"{where}: the token is shorter than 8 characters")
                digest = hashlib.sha256(key.encode("utf-8")).digest()
            out.append((digest, role))
        return cls(tuple(out))

    def merged(self, other: TokenStore) -> TokenStore:
        """Both stores' entries."""
        return TokenStore(self.digests + other.digests)

    def __len__(self) -> int:
        return len(self.digests)

    def role_of(self, token: str) -> str | None:
        """The role of ``token``, or ``None``; compares with every digest in constant time."""
        presented = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        found: str | None = None
        for digest, role in self.digests:
            if hmac.compare_digest(presented, digest) and found is None:
                found = role
        return found


def _entries(data: object, origin: str) -> Mapping[str, object]:
    if isinstance(data, Mapping) and isinstance(data.get("tokens"), Mapping):
        data = data["tokens"]
    if not isinstance(data, Mapping):
        raise TokenConfigError(f"{origin}: expected a table of token = role")
    return data


def load_file(path: str | Path) -> TokenStore:
    """Tokens from a JSON (``.json``) or TOML file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise TokenConfigError(f"{p}: cannot read the token file ({exc.strerror})") from None
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = "JSON" if p.suffix.lower() == ".json" else "TOML"
        raise TokenConfigError(f"{p}: not valid {kind} ({exc})") from None
    return TokenStore.from_mapping(_entries(data, str(p)), str(p))


def parse_env(value: str, origin: str = "PATROLSTREAM_API_TOKENS") -> TokenStore:
    """Tokens from the environment variable: a JSON object or ``token=role,token=role``.

    Examples
    --------
    >>> len(parse_env("abcdefgh=dispatch, sha256:" + "0" * 64 + "=admin"))
    2
    >>> parse_env("abcdefgh")
    Traceback (most recent call last):
    ...
    streams.api.auth.TokenConfigError: PATROLSTREAM_API_TOKENS: entry 1: expected token=role
    """
    text = value.strip()
    if not text:
        return TokenStore()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            raise TokenConfigError(f"{origin}: not a valid JSON object") from None
        return TokenStore.from_mapping(_entries(data, origin), origin)
    entries: dict[str, object] = {}
    for n, part in enumerate(p for p in text.split(",") if p.strip()):
        token, sep, role = part.strip().rpartition("=")
        if not sep or not token:
            raise TokenConfigError(f"{origin}: entry {n + 1}: expected token=role")
        entries[token] = role
    return TokenStore.from_mapping(entries, origin)


def load_tokens(tokens_file: str = "", tokens_env: str = "") -> TokenStore:
    """The tokens of the settings' ``api_tokens_file`` and ``api_tokens`` (both may be set)."""
    store = load_file(tokens_file) if tokens_file else TokenStore()
    return store.merged(parse_env(tokens_env)) if tokens_env else store


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else ``None``.

    Examples
    --------
    >>> bearer_token("Bearer abc"), bearer_token("bearer  abc "), bearer_token("Basic abc")
    ('abc', 'abc', None)
    """
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m streams.api.auth hash``: print the ``sha256:`` form of a token."""
    parser = argparse.ArgumentParser(
        prog="python -m streams.api.auth",
        description="Tools for the dispatch API's token file.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    h = sub.add_parser(
        "hash",
        help="print sha256:<hex> of a token (read from stdin, or prompted without echo)",
    )
    h.add_argument("--role", choices=sorted(ROLES), help='print a `"sha256:..." = role` line')
    ns = parser.parse_args(argv)
    token = sys.stdin.readline().strip() if not sys.stdin.isatty() else getpass.getpass("token: ")
    if not token:
        print("error: empty token", file=sys.stderr)
        return 2
    digest = hash_token(token)
    print(f'"{digest}" = "{ns.role}"' if ns.role else digest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
