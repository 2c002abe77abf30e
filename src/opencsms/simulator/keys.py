"""Station keys for a simulated fleet: read and written as JSON or CSV.

JSON is an object ``{"SIM00001": "<key>", ...}`` (or a list of
``{"station_id": ..., "key": ...}``); CSV has rows ``station_id,key`` with an
optional header. The format follows the file suffix (``.csv`` is CSV,
anything else JSON), and content that starts with ``{``/``[`` is JSON.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path


class KeysFileError(ValueError):
    """A keys file that cannot be read; the message names file and line."""


def parse_keys(text: str, source: str = "<keys>") -> dict[str, str]:
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        return _parse_json(text, source)
    return _parse_csv(text, source)


def _parse_json(text: str, source: str) -> dict[str, str]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KeysFileError(f"{source}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    items: list[tuple[object, object]]
    if isinstance(data, dict):
        items = list(data.items())
    elif isinstance(data, list) and all(isinstance(d, dict) for d in data):
        items = [(d.get("station_id"), d.get("key")) for d in data]
    else:
        raise KeysFileError(f"{source}: expected an object of station_id: key")
    keys: dict[str, str] = {}
    for number, (station, key) in enumerate(items, 1):
        if not isinstance(station, str) or not station or not isinstance(key, str) or not key:
            raise KeysFileError(f"{source}: entry {number}: station id and key must be strings")
        keys[station] = key
    return keys


def _parse_csv(text: str, source: str) -> dict[str, str]:
    keys: dict[str, str] = {}
    for number, row in enumerate(csv.reader(io.StringIO(text)), 1):
        cells = [c.strip() for c in row]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if number == 1 and [c.lower() for c in cells[:2]] == ["station_id", "key"]:
            continue
        if len(cells) != 2 or not cells[0] or not cells[1]:
            raise KeysFileError(f"{source}:{number}: expected 'station_id,key', got {row!r}")
        if cells[0] in keys:
            raise KeysFileError(f"{source}:{number}: station {cells[0]!r} listed twice")
        keys[cells[0]] = cells[1]
    return keys


def load_keys(path: str | Path) -> dict[str, str]:
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise KeysFileError(f"{file}: cannot read: {exc.strerror or exc}") from None
    return parse_keys(text, str(file))


def write_keys(path: str | Path, keys: dict[str, str]) -> None:
    """Write the keys file (mode 0600: the keys are credentials)."""
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    if file.suffix.lower() == ".csv":
        text = "station_id,key\n" + "".join(f"{s},{k}\n" for s, k in keys.items())
    else:
        text = json.dumps(keys, indent=1) + "\n"
    file.touch(mode=0o600, exist_ok=True)
    file.chmod(0o600)
    file.write_text(text)
