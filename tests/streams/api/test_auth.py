"""Token loading and checking of the dispatch API (no broker)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.api.auth import (
    TokenConfigError,
    TokenStore,
    allowed,
    bearer_token,
    hash_token,
    load_file,
    load_tokens,
    parse_env,
)

ROOT = Path(__file__).resolve().parents[3]


def test_hash_token_is_the_sha256_hex_of_the_token() -> None:
    assert hash_token("dispatch-1") == "sha256:" + hashlib.sha256(b"dispatch-1").hexdigest()


def test_json_file_with_hashed_and_clear_tokens(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"tokens": {hash_token("hashed-token"): "admin",
                                           "clear-token-1": "dispatch"}}))  # fmt: skip
    store = load_file(path)
    assert store.role_of("hashed-token") == "admin"
    assert store.role_of("clear-token-1") == "dispatch"
    assert store.role_of(hash_token("hashed-token")) is None  # the digest is not a token
    assert store.role_of("") is None and len(store) == 2


def test_toml_file_at_top_level(tmp_path: Path) -> None:
    path = tmp_path / "tokens.toml"
    path.write_text(f'"{hash_token("ops-token-9")}" = "dispatch"\n')
    assert load_file(path).role_of("ops-token-9") == "dispatch"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"abcdefgh": "root"}', "entry 1: role 'root' is not one of admin, dispatch"),
        ('{"short": "admin"}', "entry 1: the token is shorter than 8 characters"),
        ('{"sha256:abc": "admin"}', "entry 1: sha256 digest must be 64 hex digits"),
        ('["abcdefgh"]', "expected a table of token = role"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_files_name_the_entry_and_never_the_token(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(content)
    with pytest.raises(TokenConfigError, match=message) as info:
        load_file(path)
    assert "abcdefgh" not in str(info.value) and "short" not in str(info.value).split(":")[0]


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TokenConfigError, match="cannot read the token file"):
        load_file(tmp_path / "nope.toml")


def test_environment_pairs_and_json_merge_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"file-token-1": "dispatch"}))
    store = load_tokens(str(path), "env-token-1=admin, env-token-2=dispatch")
    assert [store.role_of(t) for t in ("file-token-1", "env-token-1", "env-token-2")] == [
        "dispatch", "admin", "dispatch"]  # fmt: skip
    assert parse_env('{"json-token-1": "admin"}').role_of("json-token-1") == "admin"
    assert len(parse_env("")) == 0 and len(load_tokens()) == 0
    with pytest.raises(TokenConfigError, match="entry 2: expected token=role"):
        parse_env("good-token-1=admin,oops")


def test_roles_and_permissions() -> None:
    assert [allowed("dispatch", p) for p in ("read", "subscribe", "reload")] == [True, True, False]
    assert [allowed("admin", p) for p in ("read", "subscribe", "reload")] == [True, True, True]
    assert not allowed("nobody", "read")


@given(st.text(min_size=8, max_size=40).filter(lambda t: t.strip() == t and "=" not in t))
def test_any_token_is_found_by_itself_only(token: str) -> None:
    store = TokenStore.from_mapping({token: "dispatch"})
    assert store.role_of(token) == "dispatch"
    assert store.role_of(token + "x") is None and store.role_of(token[:-1]) is None
    assert TokenStore.from_mapping({hash_token(token): "admin"}).role_of(token) == "admin"


def test_bearer_header_parsing() -> None:
    assert bearer_token("Bearer  tok en ") == "tok en"
    assert bearer_token("Token abc") is None and bearer_token("Bearer ") is None
    assert bearer_token(None) is None


def test_hash_command_reads_the_token_from_stdin() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "streams.api.auth", "hash", "--role", "admin"],
        input="my-secret-token\n", capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == f'"{hash_token("my-secret-token")}" = "admin"'


def test_the_worker_refuses_to_start_with_a_bad_token_file(tmp_path: Path) -> None:
    bad = tmp_path / "tokens.json"
    bad.write_text('{"secret-token-1": "superuser"}')
    env = {
        "PATH": "/usr/bin:/bin",
        "PATROLSTREAM_API_TOKENS_FILE": str(bad),
        "PATROLSTREAM_WEB_PORT": "6397",
        "PATROLSTREAM_ARREST_MODEL": "none",
        "PATROLSTREAM_BROKER": "kafka://127.0.0.1:1",
        "PATROLSTREAM_DATA_DIR": str(tmp_path),
    }
    out = subprocess.run(
        [sys.executable, "-m", "streams.worker"], env=env, cwd=ROOT, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 2
    assert "entry 1: role 'superuser' is not one of admin, dispatch" in out.stderr
    assert "secret-token-1" not in out.stderr
