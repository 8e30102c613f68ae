"""Every CLI command against hostile inputs: one clear error line, never a traceback or a bug."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from fashion_core.cli import build_parser, main
from fashion_core.cli._errors import EXIT_INTERNAL

# Commands that would start real work (training, a server) on a valid-looking input are still
# given only hostile values, which must be refused before any such work starts.
HOSTILE_TEXT = {
    "empty": "",
    "traversal": "../../etc/passwd",
    "long": "x" * 5000,
    "nul": "a\x00b",
    "quote": '"unterminated',
    "separator": "a|b",
    "unicode": "\u202e\ufeffé😀",
}


def _hostile_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "missing": folder / "missing.csv",
        "empty": folder / "empty.csv",
        "binary": folder / "binary.csv",
        "utf16": folder / "utf16.csv",
        "quotes": folder / "quotes.csv",
        "folder": folder,
    }
    files["empty"].write_bytes(b"")
    files["binary"].write_bytes(bytes(range(256)) * 40)
    files["utf16"].write_bytes("image,category,value\na.jpg,c,v\n".encode("utf-16"))
    files["quotes"].write_bytes(b'"a,b\n' * 50 + b"x" * 200_000 + b"\n,,,\n")
    return files


def _commands() -> list[tuple[list[str], argparse.ArgumentParser]]:
    """(command words, its parser) for every leaf command of the CLI."""
    found = []

    def walk(words: list[str], parser: argparse.ArgumentParser) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            found.append((words, parser))
            return
        for name, sub in subs[0].choices.items():
            walk([*words, name], sub)

    walk([], build_parser())
    return [(w, p) for w, p in found if w]


def _args_for(parser: argparse.ArgumentParser, value: str) -> list[str]:
    """Fill every positional and required option with ``value`` (choices get their first)."""
    args: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or action.dest == "help":
            continue
        fill = str(action.choices[0]) if action.choices else value
        if not action.option_strings:
            args += [fill] if action.nargs in (None, 1, "?", "+", "*") else [fill]
        elif action.required:
            args += [action.option_strings[0], fill]
    return args


COMMANDS = _commands()
# Commands with no required input (they start a server) get the hostile value in this option.
HOSTILE_OPTION = {("app",): "--host"}


def test_every_command_is_covered() -> None:
    names = {" ".join(w) for w, _ in COMMANDS}
    assert {"ingest", "demo-data", "datasets", "doctor", "backup", "restore", "images verify"} <= names


@pytest.mark.parametrize(("words", "parser"), COMMANDS, ids=[" ".join(w) for w, _ in COMMANDS])
def test_hostile_inputs_never_end_in_a_traceback(tmp_path: Path, capsys, words, parser) -> None:
    files = _hostile_files(tmp_path / "in")
    values = [*HOSTILE_TEXT.values(), *map(str, files.values())]
    home = ["--home", str(tmp_path / "ws")]
    for value in values:
        if words == ["demo-data"]:
            continue  # draws real images for any valid-looking input; covered in tests/core/store
        try:
            option = HOSTILE_OPTION.get(tuple(words))
            extra = [option, value] if option else []
            code = main([*home, *words, *_args_for(parser, value), *extra])
        except SystemExit as exc:  # argparse refusing the input: a usage message, exit 2
            code = exc.code
        err = capsys.readouterr().err
        assert "Traceback" not in err, (words, value, err)
        assert code != EXIT_INTERNAL, (words, value[:80], err)
        if code not in (0, None):
            assert err.strip(), (words, value[:80])


@pytest.mark.parametrize(("words", "parser"), COMMANDS, ids=[" ".join(w) for w, _ in COMMANDS])
def test_a_damaged_store_never_ends_in_a_traceback(tmp_path: Path, capsys, words, parser) -> None:
    extra = ["--images", "40"] if words == ["demo-data"] else []  # the smallest demo: it draws before opening
    home = tmp_path / "ws"
    home.mkdir()
    (home / "studio.db").write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 8)
    files = _hostile_files(tmp_path / "in")
    try:
        code = main(["--home", str(home), *words, *_args_for(parser, str(files["empty"])), *extra])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert "Traceback" not in err and code != EXIT_INTERNAL, (words, err)
