"""Every code example in the documentation runs, and every command in it names what exists.

Fenced blocks are read from README.md, core/README.md and docs/*.md:

- each ```python block is executed on its own (fresh namespace, temporary working directory);
  a block whose preceding line is ``<!-- not-run: <reason> -->`` is illustrative only and is
  reported as a skip naming the reason;
- in shell blocks (``bash``, ``sh``, ``shell``, ``console``), each command is checked without
  running it: a Hydra entry point (``python scripts/<entry>.py``, or its console script) is
  composed with its overrides through Hydra's compose API (each value of a sweep override in
  turn), so a stale key, group or option fails; ``make <target>`` names a Makefile target, and
  ``ARGS=`` of a target that passes them to a script are checked as that script's command
  line; ``python -m <module>`` imports; ``python <path>.py`` exists; and the ``--options`` of
  the project's own argparse scripts are spelled in their source.

Placeholders such as ``<run>`` stand for any value.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import shlex
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", REPO / "core" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
NOT_RUN = re.compile(r"^<!-- not-run: (?P<reason>\S.*?) -->$")
# At most this many illustrative blocks: every other example must run as written.
MAX_NOT_RUN = 6
PLACEHOLDER = re.compile(r"<[A-Za-z][^<>]*>")
# Shell words that run the command after them (and `do`/`then` of a loop or condition).
PREFIXES = {"srun", "time", "nice", "do", "then", "exec", "env"}
# Hydra's own command-line flags, and whether each takes a value.
HYDRA_FLAGS = {
    "--help": False,
    "-h": False,
    "--hydra-help": False,
    "--resolve": False,
    "--info": False,
    "-m": False,
    "--multirun": False,
    "--cfg": True,
    "-c": True,
    "--package": True,
    "-p": True,
}

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int  # line of the opening fence, 1-based
    language: str
    code: str
    not_run: str | None  # reason, for an illustrative block

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(REPO)}:{self.line}"


def blocks(doc: Path) -> Iterator[Block]:
    """The fenced code blocks of ``doc``."""
    lines = doc.read_text().splitlines()
    fence = None
    for number, text in enumerate(lines, start=1):
        stripped = text.strip()
        if fence is None and stripped.startswith("```"):
            fence, start, body = stripped[3:].strip().lower(), number, []
            marker = NOT_RUN.match(lines[number - 2].strip()) if number > 1 else None
        elif fence is not None and stripped == "```":
            reason = marker.group("reason") if marker else None
            yield Block(doc, start, fence, "\n".join(body) + "\n", reason)
            fence = None
        elif fence is not None:
            body.append(text)


ALL_BLOCKS = [block for doc in DOCS for block in blocks(doc)]
PYTHON_BLOCKS = [block for block in ALL_BLOCKS if block.language == "python"]


@dataclass(frozen=True)
class Command:
    where: str
    words: tuple[str, ...]

    def __str__(self) -> str:
        return " ".join(self.words)


def commands(block: Block) -> Iterator[Command]:
    """Each simple command of a shell block, placeholders filled, that runs python, make or a
    console script of the project."""
    pending, first = "", 0
    for offset, line in enumerate(block.code.splitlines(), start=1):
        pending, first = pending + line, first or offset
        if line.endswith("\\"):  # continued on the next line
            pending = pending[:-1] + " "
            continue
        lexer = shlex.shlex(PLACEHOLDER.sub("X", pending), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        segment: list[str] = []
        for word in [*lexer, ";"]:
            if set(word) <= set("|&;()<>"):
                if command := command_words(segment):
                    yield Command(f"{block.doc.relative_to(REPO)}:{block.line + first}", command)
                segment = []
            else:
                segment.append(word)
        pending, first = "", 0


def command_words(words: list[str]) -> tuple[str, ...] | None:
    """Strip variable assignments and prefixes such as ``srun``; keep python/make/console
    script commands."""
    while words and (words[0] in PREFIXES or re.match(r"^[A-Za-z_]\w*=", words[0])):
        words = words[1:]
    if not words:
        return None
    program = Path(words[0]).name
    if re.fullmatch(r"python(3(\.\d+)?)?", program) or program in ("make", *CONSOLE_SCRIPTS):
        return (program, *words[1:])
    return None


def _console_scripts() -> dict[str, str]:
    """``lstmkit-train`` -> ``scripts/train.py`` from pyproject.toml's [project.scripts]."""
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    return {
        name: target.split(":")[0].replace(".", "/") + ".py" for name, target in scripts.items()
    }


CONSOLE_SCRIPTS = _console_scripts()
SHELL_BLOCKS = [block for block in ALL_BLOCKS if block.language in SHELL_LANGUAGES]
COMMANDS = [command for block in SHELL_BLOCKS for command in commands(block)]


def hydra_config_name(script: Path) -> str | None:
    """``config_name`` of a ``@hydra.main`` entry point, None for any other script."""
    source = script.read_text()
    if "@hydra.main(" not in source:
        return None
    return re.search(r'config_name="(\w+)"', source).group(1)


def sweep_variants(overrides: list[str]) -> Iterator[list[str]]:
    """The overrides with each value of each sweep override in turn (the others at their first)."""
    choices = []
    for override in OverridesParser.create().parse_overrides(overrides):
        if not override.is_sweep_override():
            values = [override.input_line]
        elif override.is_interval_sweep():
            values = [f"{override.get_key_element()}={override.value().start}"]
        else:
            values = [f"{override.get_key_element()}={v}" for v in override.sweep_string_iterator()]
        choices.append(values)
    first = [values[0] for values in choices]
    yield first
    for index, values in enumerate(choices):
        for value in values[1:]:
            yield [*first[:index], value, *first[index + 1 :]]


def check_hydra(config_name: str, args: list[str]) -> None:
    overrides: list[str] = []
    words = iter(args)
    for word in words:
        if word in HYDRA_FLAGS:
            if HYDRA_FLAGS[word]:
                next(words)
        elif word in ("-cn", "--config-name"):
            config_name = next(words)
        else:
            assert not word.startswith("-"), f"unknown Hydra flag {word}"
            overrides.append(word)
    with initialize_config_dir(version_base="1.3", config_dir=str(REPO / "conf")):
        for variant in sweep_variants(overrides):
            compose(config_name, overrides=variant, return_hydra_config=True)


def check_options(source: Path, args: list[str]) -> None:
    """Every ``--option`` before a ``--`` separator is spelled in the script's source."""
    text = source.read_text()
    for word in args:
        if word == "--":
            break
        if word.startswith("--"):
            option = word.split("=", 1)[0]
            assert f'"{option}"' in text, f"{source.relative_to(REPO)} has no option {option}"


def check_python(args: list[str]) -> None:
    if args[:1] == ["-m"]:
        module, rest = args[1], args[2:]
        importlib.import_module(module)
        origin = Path(importlib.util.find_spec(module).origin)
        if origin.is_relative_to(REPO):
            check_options(origin, rest)
        return
    script, rest = REPO / args[0], args[1:]
    assert script.is_file(), f"no file {args[0]}"
    if config_name := hydra_config_name(script):
        check_hydra(config_name, rest)
    else:
        check_options(script, rest)


def makefile_targets() -> dict[str, list[str]]:
    """Makefile target -> its recipe lines."""
    targets: dict[str, list[str]] = {}
    recipe: list[str] = []
    for line in (REPO / "Makefile").read_text().splitlines():
        if match := re.match(r"^([\w.-]+)\s*:(?!=)", line):
            recipe = targets.setdefault(match.group(1), [])
        elif line.startswith("\t"):
            recipe.append(line.strip())
    return targets


def check_make(args: list[str]) -> None:
    targets = makefile_targets()
    variables = dict(word.split("=", 1) for word in args if "=" in word)
    for target in (word for word in args if "=" not in word):
        assert target in targets, f"the Makefile has no target {target!r}"
        for line in targets[target]:
            if "$(ARGS)" in line and "ARGS" in variables:
                words = shlex.split(line.replace("$(ARGS)", variables["ARGS"]))
                check_python(command_words([Path(words[0]).name, *words[1:]])[1:])


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda block: block.where)
def test_python_block_runs(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if block.not_run is not None:
        pytest.skip(f"{block.where}: not-run: {block.not_run}")
    monkeypatch.chdir(tmp_path)
    exec(compile(block.code, block.where, "exec"), {"__name__": "__doc_example__"})


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command.where)
def test_command_names_what_exists(command: Command) -> None:
    program, *args = command.words
    if program == "make":
        check_make(args)
    elif program in CONSOLE_SCRIPTS:
        check_python([CONSOLE_SCRIPTS[program], *args])
    else:
        check_python(args)


def test_examples_are_found_and_rarely_illustrative() -> None:
    not_run = [block for block in ALL_BLOCKS if block.not_run is not None]
    assert all(block.language == "python" for block in not_run), "not-run marks python blocks only"
    assert len(not_run) <= MAX_NOT_RUN, [block.where for block in not_run]
    assert len(PYTHON_BLOCKS) - len(not_run) >= 8
    assert len(COMMANDS) >= 50


def test_commands_are_in_shell_blocks() -> None:
    """A command in an unlabelled block would escape the checks above: label it ``bash``."""
    hidden = [
        block.where
        for block in ALL_BLOCKS
        if block.language not in SHELL_LANGUAGES
        and re.search(r"^\s*(\S*python\S* |make )", block.code, re.MULTILINE)
    ]
    assert not hidden, f"commands outside a bash block: {hidden}"


def anchors(doc: Path) -> set[str]:
    """GitHub's anchors of the headings of ``doc`` (outside code blocks)."""
    fenced = {
        number
        for block in blocks(doc)
        for number in range(block.line, block.line + block.code.count("\n") + 2)
    }
    return {
        re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
        for number, line in enumerate(doc.read_text().splitlines(), start=1)
        if number not in fenced and (match := re.match(r"^#+ (.*)", line))
    }


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: str(doc.relative_to(REPO)))
def test_links_resolve(doc: Path) -> None:
    """Relative links name files that exist, and their #anchors headings of those files."""
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        linked = (doc.parent / path).resolve() if path else doc
        if not linked.exists() or (anchor and anchor not in anchors(linked)):
            broken.append(target)
    assert not broken, f"{doc.relative_to(REPO)}: broken links {broken}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: str(doc.relative_to(REPO)))
def test_no_merge_conflict_markers(doc: Path) -> None:
    """A half-resolved merge leaves both sides in the text, and the blocks between the markers
    still parse as commands."""
    markers = re.findall(r"^(?:<{7}|={7}|>{7})(?: .*)?$", doc.read_text(), re.MULTILINE)
    assert not markers, f"{doc.relative_to(REPO)}: merge conflict markers {markers}"
