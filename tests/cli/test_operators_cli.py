"""``opencsms operators`` against a real SQLite data dir: accounts made,
listed, given new passwords and disabled; the passwords work (or stop
working) at login; bad input exits 2 and changes nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opencsms.app import Services
from opencsms.cli.main import app
from opencsms.config import Settings
from opencsms.domain.model import Operator

runner = CliRunner()
PASSWORD = "a password long enough"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPENCSMS_KEY_HASH_COST", "4")
    return tmp_path / "data"


def run(data_dir: Path, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, ["operators", *args, "--data-dir", str(data_dir)], input=stdin)
    return result.exit_code, result.output


def logs_in(data_dir: Path, name: str, password: str) -> bool:
    async def main() -> bool:
        services = await Services.open(Settings(data_dir=data_dir))
        try:
            return await services.operators.login(name, password) is not None
        finally:
            await services.close()

    return asyncio.run(main())


def operators(data_dir: Path) -> list[Operator]:
    async def main() -> list[Operator]:
        services = await Services.open(Settings(data_dir=data_dir))
        try:
            return await services.operators.list()
        finally:
            await services.close()

    return asyncio.run(main())


def generated_password(output: str) -> str:
    lines = output.splitlines()
    at = next(i for i, line in enumerate(lines) if "shown only this once" in line)
    return lines[at + 1].strip()


def test_add_list_passwd_disable_enable(data_dir: Path) -> None:
    code, output = run(data_dir, "add", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 0, output
    assert PASSWORD not in output
    code, output = run(data_dir, "add", "bob@example.org", "--role", "read-only")
    assert code == 0, output
    bob_password = generated_password(output)
    assert len(bob_password) >= 20

    code, listing = run(data_dir, "list")
    assert code == 0, listing
    assert "alice" in listing and "bob@example.org" in listing and "read-only" in listing
    assert "scrypt" not in listing and bob_password not in listing
    assert logs_in(data_dir, "alice", PASSWORD)
    assert logs_in(data_dir, "bob@example.org", bob_password)

    code, output = run(data_dir, "passwd", "alice")
    assert code == 0, output
    alice_password = generated_password(output)
    assert not logs_in(data_dir, "alice", PASSWORD)
    assert logs_in(data_dir, "alice", alice_password)
    code, output = run(data_dir, "passwd", "alice", "--password-stdin", stdin=PASSWORD + "\r\n")
    assert code == 0 and "shown only this once" not in output
    assert logs_in(data_dir, "alice", PASSWORD)

    code, output = run(data_dir, "disable", "bob@example.org")
    assert code == 0, output
    assert not logs_in(data_dir, "bob@example.org", bob_password)
    [alice, bob] = operators(data_dir)
    assert alice.disabled_at is None and bob.disabled_at is not None

    code, output = run(data_dir, "enable", "bob@example.org")
    assert code == 0, output
    assert logs_in(data_dir, "bob@example.org", bob_password)
    assert all(o.disabled_at is None for o in operators(data_dir))


def test_bad_input_exits_2_and_changes_nothing(data_dir: Path) -> None:
    assert run(data_dir, "add", "alice", "--password-stdin", stdin=PASSWORD)[0] == 0
    before = operators(data_dir)

    cases = [
        (("add", "no spaces allowed", "--password-stdin"), PASSWORD, "operator name"),
        (("add", "x" * 65), None, "operator name"),
        (("add", "carol", "--password-stdin"), "short\n", "at least 10 characters"),
        (("add", "carol", "--password-stdin"), "", "at least 10 characters"),
        (("add", "alice", "--password-stdin"), PASSWORD, "already exists"),
        (("passwd", "carol", "--password-stdin"), PASSWORD, "no operator named 'carol'"),
        (("passwd", "alice", "--password-stdin"), "too short", "at least 10 characters"),
        (("disable", "carol"), None, "no operator named 'carol'"),
        (("enable", "carol"), None, "no operator named 'carol'"),
    ]
    for args, stdin, message in cases:
        code, output = run(data_dir, *args, stdin=stdin)
        assert code == 2, (args, output)
        assert message in " ".join(output.split()), (args, output)
    assert run(data_dir, "add", "carol", "--role", "superuser")[0] == 2

    assert operators(data_dir) == before
    assert logs_in(data_dir, "alice", PASSWORD)
