"""`pllm keys`, `pllm budgets`, `pllm limits` and `pllm audit` as users run them: a subprocess
each, on a database in a tmp dir."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pllm.store import AuditRow, Store


def pllm(*args: str, db: Path | None, cwd: Path,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("PLLM_DB", "USER")}
    extra = ["--db", str(db)] if db is not None else []
    return subprocess.run([sys.executable, "-m", "pllm", *args, *extra], capture_output=True,
                          text=True, env={**base, "USER": "tester", **(env or {})}, timeout=60,
                          cwd=cwd)


def ok(*args: str, db: Path | None, cwd: Path) -> str:
    done = pllm(*args, db=db, cwd=cwd)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "pllm.db"


def test_keys_create_list_show_revoke_never_reprint_the_secret(tmp_path: Path, db: Path) -> None:
    out = ok("keys", "create", "--name", "ci bot", "--models", "gpt-4o,claude", "--rpm", "10",
             "--budget", "5", "--budget-period", "monthly", "--expires", "30d", "--user", "u1",
             "--team", "t1", "--metadata", "env=prod", db=db, cwd=tmp_path)
    assert "shown once" in out
    secret = next(word for word in out.split() if word.startswith("sk-pllm-"))
    assert len(secret) >= 40

    listed = json.loads(ok("keys", "list", "--json", db=db, cwd=tmp_path))
    assert len(listed) == 1
    key = listed[0]
    assert key["name"] == "ci bot" and key["models"] == ["gpt-4o", "claude"]
    assert key["rpm"] == 10 and key["user_id"] == "u1" and key["team_id"] == "t1"
    assert key["metadata"] == {"env": "prod"} and key["status"] == "active"
    assert key["budget"]["max_usd"] == 5.0 and key["budget"]["period"] == "monthly"
    assert 29 * 86400 < key["expires_at"] - time.time() <= 30 * 86400
    assert key["prefix"] == secret[:12] + "…"

    human_list = ok("keys", "list", db=db, cwd=tmp_path)
    shown = ok("keys", "show", key["id"], db=db, cwd=tmp_path)
    shown_json = ok("keys", "show", key["id"], "--json", db=db, cwd=tmp_path)
    for text in (human_list, shown, shown_json, json.dumps(listed)):
        assert secret not in text and secret[12:] not in text
    assert key["id"] in human_list and "active" in human_list
    assert "$0.00 / $5.00" in shown and "env" in shown

    assert "revoked" in ok("keys", "revoke", key["id"], db=db, cwd=tmp_path)
    assert json.loads(ok("keys", "show", key["id"], "--json", db=db, cwd=tmp_path))[
        "status"] == "revoked"

    events = json.loads(ok("audit", "events", "--json", db=db, cwd=tmp_path))
    assert [(e["actor"], e["action"]) for e in events] == [
        ("cli:tester", "key.create"), ("cli:tester", "budget.set"), ("cli:tester", "key.revoke")]


def test_keys_create_json_rotate_update(tmp_path: Path, db: Path) -> None:
    created = json.loads(ok("keys", "create", "--name", "svc", "--json", db=db, cwd=tmp_path))
    assert created["key"].startswith("sk-pllm-") and created["id"].startswith("key_")
    assert created["name"] == "svc" and created["budget"] is None

    rotated = json.loads(ok("keys", "rotate", created["id"], "--grace", "1h", "--json", db=db,
                            cwd=tmp_path))
    assert rotated["key"] != created["key"] and rotated["id"] != created["id"]
    assert rotated["old_id"] == created["id"]
    assert 3500 < rotated["grace_until"] - time.time() <= 3600
    statuses = {k["id"]: k["status"] for k in json.loads(ok("keys", "list", "--json", db=db,
                                                              cwd=tmp_path))}
    assert statuses == {created["id"]: "grace", rotated["id"]: "active"}

    human = ok("keys", "rotate", rotated["id"], db=db, cwd=tmp_path)
    assert "shown once" in human and "sk-pllm-" in human and "stops working now" in human

    updated = json.loads(ok("keys", "update", rotated["id"], "--rpm", "7", "--models", "a,b",
                            "--role", "viewer", "--json", db=db, cwd=tmp_path))
    assert (updated["rpm"], updated["models"], updated["role"]) == (7, ["a", "b"], "viewer")


def test_keys_errors_exit_1_with_a_message(tmp_path: Path, db: Path) -> None:
    for args, message in (
        (("keys", "show", "key_nope"), "no key with id 'key_nope'"),
        (("keys", "revoke", "key_nope"), "no key with id 'key_nope'"),
        (("keys", "rotate", "key_nope"), "no key with id 'key_nope'"),
        (("keys", "create", "--name", "x", "--role", "root"), "unknown role 'root'"),
        (("keys", "create", "--name", "x", "--expires", "someday"), "not a time"),
        (("keys", "create", "--name", "x", "--expires", "2001-01-01"), "in the past"),
        (("keys", "create", "--name", "x", "--budget", "5", "--budget-period", "yearly"),
         "unknown budget period"),
        (("keys", "create", "--name", "x", "--metadata", "novalue"), "NAME=VALUE"),
    ):
        done = pllm(*args, db=db, cwd=tmp_path)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert message in done.stderr, (args, done.stderr)
    assert json.loads(ok("keys", "list", "--json", db=db, cwd=tmp_path)) == []


def test_budgets(tmp_path: Path, db: Path) -> None:
    key = json.loads(ok("keys", "create", "--name", "k", "--json", db=db, cwd=tmp_path))
    ok("budgets", "set", "--global", "--max", "100", "--period", "daily", "--soft", "80", db=db,
       cwd=tmp_path)
    ok("budgets", "set", "--key", key["id"], "--max", "5", db=db, cwd=tmp_path)
    ok("budgets", "set", "--team", "t1", "--max", "20", "--period", "monthly", db=db,
       cwd=tmp_path)
    with Store.open(db) as store:
        store.add_spend("global", 30.0)
    shown = json.loads(ok("budgets", "show", "--global", "--json", db=db, cwd=tmp_path))
    assert shown["spend_usd"] == 30.0 and shown["remaining_usd"] == 70.0
    assert shown["soft_usd"] == 80.0 and shown["next_reset"] > time.time()
    human = ok("budgets", "show", "--global", db=db, cwd=tmp_path)
    assert "$30.00" in human and "$70.00" in human and "UTC" in human
    listed = json.loads(ok("budgets", "list", "--json", db=db, cwd=tmp_path))
    assert [b["id"] for b in listed] == ["global", f"key:{key['id']}", "team:t1"]
    assert "team:t1" in ok("budgets", "list", db=db, cwd=tmp_path)
    reset = json.loads(ok("budgets", "reset", "--global", "--json", db=db, cwd=tmp_path))
    assert reset["spend_usd"] == 0.0
    ok("budgets", "delete", "--team", "t1", db=db, cwd=tmp_path)

    for args, message in (
        (("budgets", "show", "--team", "t1"), "no budget 'team:t1'"),
        (("budgets", "set", "--max", "1"), "exactly one of"),
        (("budgets", "set", "--user", "u", "--global", "--max", "1"), "exactly one of"),
        (("budgets", "set", "--key", "key_nope", "--max", "1"), "no key with id"),
        (("budgets", "set", "--user", "u", "--max", "1", "--soft", "2"), "soft budget"),
    ):
        done = pllm(*args, db=db, cwd=tmp_path)
        assert done.returncode == 1 and message in done.stderr, (args, done.stderr)


def test_limits(tmp_path: Path, db: Path) -> None:
    key = json.loads(ok("keys", "create", "--name", "k", "--json", db=db, cwd=tmp_path))
    ok("limits", "set", "--user", "u1", "--rpm", "10", db=db, cwd=tmp_path)
    ok("limits", "set", "--model", "gpt-4o", "--tpm", "1000", db=db, cwd=tmp_path)
    ok("limits", "set", "--key", key["id"], "--model", "gpt-4o", "--rpm", "2", db=db,
       cwd=tmp_path)
    ok("limits", "set", "--endpoint", "embeddings", "--rpm", "50", "--tpm", "9000", db=db,
       cwd=tmp_path)
    listed = {(x["scope"], x["subject"]): (x["rpm"], x["tpm"])
              for x in json.loads(ok("limits", "list", "--json", db=db, cwd=tmp_path))}
    assert listed == {("user", "u1"): (10, None), ("model", "gpt-4o"): (None, 1000),
                      ("key_model", f"{key['id']}:gpt-4o"): (2, None),
                      ("endpoint", "embeddings"): (50, 9000)}
    assert "embeddings" in ok("limits", "list", db=db, cwd=tmp_path)
    ok("limits", "delete", "--user", "u1", db=db, cwd=tmp_path)
    assert len(json.loads(ok("limits", "list", "--json", db=db, cwd=tmp_path))) == 3
    for args, message in (
        (("limits", "set", "--user", "u1"), "--rpm N, --tpm N"),
        (("limits", "set", "--key", key["id"], "--rpm", "1"), "--key needs --model"),
        (("limits", "set", "--endpoint", "images", "--rpm", "1"), "unknown endpoint"),
        (("limits", "delete", "--user", "u1"), "no user limit"),
    ):
        done = pllm(*args, db=db, cwd=tmp_path)
        assert done.returncode == 1 and message in done.stderr, (args, done.stderr)


def test_audit_tail_and_export(tmp_path: Path, db: Path) -> None:
    now = time.time()
    with Store.open(db) as store:
        for i in range(30):
            store.record_request(AuditRow(
                ts=now - 3600 * (29 - i), request_id=f"req-{i}", endpoint="chat",
                model="gpt-4o", status=200 if i % 5 else 429, key_id="key_abc",
                deployment="openai/gpt-4o", latency_ms=120.0, prompt_tokens=10,
                completion_tokens=5, cost_usd=0.0005, error=None if i % 5 else "rate_limited"))
    lines = ok("audit", "tail", "--json", db=db, cwd=tmp_path).splitlines()
    assert [json.loads(line)["request_id"] for line in lines] == [f"req-{i}" for i in range(10, 30)]
    assert len(ok("audit", "tail", "-n", "3", "--json", db=db, cwd=tmp_path).splitlines()) == 3
    human = ok("audit", "tail", "-n", "5", db=db, cwd=tmp_path)
    assert "req-29" in human and "req-25" in human and "req-24" not in human

    jsonl = ok("audit", "export", "--since", "5h", db=db, cwd=tmp_path).splitlines()
    assert [json.loads(line)["request_id"] for line in jsonl] == [f"req-{i}" for i in range(25, 30)]
    out = tmp_path / "audit.csv"
    done = pllm("audit", "export", "--format", "csv", "--output", str(out), db=db, cwd=tmp_path)
    assert done.returncode == 0 and "exported 30 row(s)" in done.stderr
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 30 and rows[0]["request_id"] == "req-0"
    assert rows[0]["error"] == "rate_limited" and rows[0]["status"] == "429"
    bad = pllm("audit", "export", "--format", "xml", db=db, cwd=tmp_path)
    assert bad.returncode == 1 and "csv or jsonl" in bad.stderr


def test_audit_tail_follow_prints_new_rows(tmp_path: Path, db: Path) -> None:
    Store.open(db).close()
    env = {k: v for k, v in os.environ.items() if k != "PLLM_DB"}
    follower = subprocess.Popen(
        [sys.executable, "-m", "pllm", "audit", "tail", "--follow", "--json", "--interval",
         "0.1", "--db", str(db)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, cwd=tmp_path)
    try:
        time.sleep(1.0)  # let it start and take its first look
        with Store.open(db) as store:
            for i in range(3):
                store.record_request(AuditRow(ts=time.time(), request_id=f"live-{i}",
                                              endpoint="chat", model="m", status=200))
        assert follower.stdout is not None
        got = [json.loads(follower.stdout.readline())["request_id"] for _ in range(3)]
        assert got == ["live-0", "live-1", "live-2"]
    finally:
        follower.terminate()
        follower.communicate(timeout=10)


def test_database_from_config_and_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("model_list: []\ngeneral_settings:\n  database_url: sqlite:///from-config.db\n"
                   "  master_key: os.environ/UNSET_MASTER_KEY_FOR_TEST\n")
    ok("keys", "create", "--name", "a", "--config", str(cfg), db=None, cwd=tmp_path)
    assert (tmp_path / "from-config.db").is_file()
    ok("keys", "create", "--name", "b", db=None, cwd=tmp_path)  # ./config.yaml by default
    with Store.open(tmp_path / "from-config.db") as store:
        assert [k.name for k in store.list_keys()] == ["a", "b"]
    other = tmp_path / "elsewhere"
    other.mkdir()
    done = pllm("keys", "list", "--json", db=None, cwd=other,
                env={"PLLM_DB": str(tmp_path / "env.db")})
    assert done.returncode == 0 and json.loads(done.stdout) == []
    assert (tmp_path / "env.db").is_file()
    cfg.write_text("general_settings:\n  database_url: postgresql://u:pw-secret@h/db\n")
    bad = pllm("keys", "list", "--config", str(cfg), db=None, cwd=tmp_path)
    assert bad.returncode == 1 and "sqlite:///" in bad.stdout + bad.stderr
    assert "pw-secret" not in bad.stdout + bad.stderr
    missing = pllm("keys", "list", "--config", str(tmp_path / "nope.yaml"), db=None, cwd=other)
    assert missing.returncode == 1 and "config file not found" in missing.stderr
