"""Jinja2 environments for everything rendered from `templates/`.

Shell templates (`*.sh.j2`) get an environment where safety is the default,
not a filter someone must remember: the token stream of every template is
read with a small shell lexer, and each `{{ … }}` is wrapped in a check that
knows where in the shell text it stands.

- In a plain word position a string is shell-quoted (`shlex.quote`), an int
  is written as digits, a `Literal` (a constant of ours) as itself.
- Inside double quotes, single quotes, a comment, a here-document or
  `${…}`, quoting cannot protect (`"x 'a$(id)'"` still expands, a newline
  ends a comment), so only ints and `Literal`s are accepted there. A template
  that needs a string value there assigns it to a variable first
  (`repo={{ repo }}`) and uses `"${repo}"`.
- Anything else (None, bool, float, list, an already-quoted word inside
  quotes) raises `UnsafeShellValue` at render time: refused, never guessed.

Other templates (`templates/preview/*.md.j2`, `*.txt.j2`) use a plain
environment.
"""

from __future__ import annotations

import re
import shlex
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import jinja2
from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = PROJECT_ROOT / "templates"
SHELL_SUFFIX = ".sh.j2"

# Characters that mean nothing to bash in any context (no quote, $, `, \, space, newline, glob, #, !).
_INERT = re.compile(r"^[A-Za-z0-9_./:@%+=,-]*$")


class UnsafeShellValue(ValueError):
    """A value a shell template would have to splice in a way that is not provably safe."""


class Literal(str):
    """A trusted constant (a marker file name, a mount path): written as is, in any context.

    Only characters that are inert in every shell context are allowed, so even a
    mistaken `Literal(user_value)` cannot turn into code.
    """

    def __new__(cls, value: str) -> "Literal":
        if not isinstance(value, str) or not _INERT.match(value):
            raise UnsafeShellValue(f"Literal {value!r} may contain only [A-Za-z0-9_./:@%+=,-]")
        return super().__new__(cls, value)


class ShellWord(str):
    """Text already quoted as one shell word (the `shquote` filter): safe in word position only."""


def shell_word(value: Any) -> ShellWord:
    """One shell word for `value`: strings quoted, ints as digits, constants as they are."""
    if isinstance(value, (Literal, ShellWord)):
        return ShellWord(value)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise UnsafeShellValue(f"refusing to write {type(value).__name__} {value!r} into a shell script")
    return ShellWord(str(value) if isinstance(value, int) else shlex.quote(value))


def _in_word(value: Any) -> str:
    return _Checked(shell_word(value))


def _in_quotes(value: Any) -> str:
    """Inside quotes, a comment or a here-document only digits and inert constants are safe."""
    if isinstance(value, Literal) or (isinstance(value, int) and not isinstance(value, bool)):
        return _Checked(value)
    raise UnsafeShellValue(
        f"refusing to write {value!r} inside quotes, a comment or a here-document of a shell script, "
        "where quoting cannot protect it; assign it to a variable in word position and use \"${name}\""
    )


class _Checked(str):
    """Output that went through a context check; `finalize` refuses anything else."""


def _finalize(value: Any) -> str:
    if isinstance(value, _Checked):
        return value
    raise UnsafeShellValue(f"unchecked value {value!r} in a shell template")


class _ShellLexer:
    """Tracks, across the literal text of a template, whether the next character is in word position.

    Enough of bash's grammar for our templates: quotes, escapes, comments,
    `$(…)`, `${…}`, backticks and here-documents. A value it places inside
    quotes only has to be an int or a `Literal`, so a misreading fails closed.
    """

    _HEREDOC = re.compile(r"(?<!<)<<(?!<)(-?)\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")
    _WORD_STATES = ("word", "cmd", "bt")

    def __init__(self) -> None:
        self.stack: list[str] = ["word"]
        self.heredocs: list[tuple[str, bool]] = []
        self.heredoc: tuple[str, bool] | None = None
        self.line = ""
        self.previous = ""
        self.at_word_start = True

    @property
    def in_word(self) -> bool:
        return self.heredoc is None and self.stack[-1] in self._WORD_STATES

    def feed(self, text: str) -> None:
        for char in text:
            if self.heredoc is not None:
                self._heredoc_char(char)
            else:
                self._char(char)
            self.previous = char

    def _char(self, char: str) -> None:
        state = self.stack[-1]
        if state != "comment":
            self.line += char
        if state == "escape":
            self.stack.pop()
        elif state == "sq":
            if char == "'":
                self.stack.pop()
        elif state == "comment":
            if char == "\n":
                self.stack.pop()
        elif state in ("dq", "param"):
            self._quoted_char(state, char)
        else:
            self._word_char(state, char)
        if char == "\n" and self.stack[-1] in self._WORD_STATES:
            self._newline()

    def _quoted_char(self, state: str, char: str) -> None:
        if char == "\\":
            self.stack.append("escape")
        elif state == "dq" and char == '"':
            self.stack.pop()
        elif state == "param" and char == "}":
            self.stack.pop()
        elif char == "(" and self.previous == "$":
            self.stack.append("cmd")
        elif char == "{" and self.previous == "$":
            self.stack.append("param")
        elif char == "`":
            self.stack.append("bt")

    def _word_char(self, state: str, char: str) -> None:
        word_start = self.at_word_start
        self.at_word_start = char in " \t\n;&|()"
        if char == "\\":
            self.stack.append("escape")
        elif char == "'":
            self.stack.append("sq")
        elif char == '"':
            self.stack.append("dq")
        elif char == "#" and word_start:
            self.stack.append("comment")
        elif char == "(" and (self.previous == "$" or state == "cmd"):
            self.stack.append("cmd")
        elif char == "{" and self.previous == "$":
            self.stack.append("param")
        elif char == "`":
            if state == "bt":
                self.stack.pop()
            else:
                self.stack.append("bt")
        elif char == ")" and state == "cmd":
            self.stack.pop()

    def _newline(self) -> None:
        for match in self._HEREDOC.finditer(self.line):
            self.heredocs.append((match.group(3), match.group(1) == "-"))
        self.line = ""
        self.at_word_start = True
        if self.heredocs and self.heredoc is None:
            self.heredoc = self.heredocs.pop(0)

    def _heredoc_char(self, char: str) -> None:
        if char != "\n":
            self.line += char
            return
        word, strip_tabs = self.heredoc
        line = self.line.lstrip("\t") if strip_tabs else self.line
        self.line = ""
        if line == word:
            self.heredoc = self.heredocs.pop(0) if self.heredocs else None


class ShellSafety(Extension):
    """Wraps every `{{ expr }}` of a shell template in the check for its shell context."""

    def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
        lexer = _ShellLexer()
        tokens = iter(stream)
        for token in tokens:
            if token.type == "data":
                lexer.feed(token.value)
                yield token
            elif token.type == "variable_begin":
                check = "_sh_in_word" if lexer.in_word else "_sh_in_quotes"
                yield token
                yield Token(token.lineno, "name", check)
                yield Token(token.lineno, "lparen", "(")
                for inner in tokens:
                    if inner.type == "variable_end":
                        yield Token(inner.lineno, "rparen", ")")
                        yield inner
                        break
                    yield inner
            else:
                yield token


def _environment(**options: Any) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        **options,
    )


@lru_cache(maxsize=1)
def shell_environment() -> jinja2.Environment:
    env = _environment(extensions=[ShellSafety], finalize=_finalize)
    env.globals.update(_sh_in_word=_in_word, _sh_in_quotes=_in_quotes)
    env.filters["shquote"] = shell_word
    return env


@lru_cache(maxsize=1)
def text_environment() -> jinja2.Environment:
    return _environment()


def environment(template: str = SHELL_SUFFIX) -> jinja2.Environment:
    """The environment for `template`; with no name, the shell one (every `*.sh.j2`)."""
    return shell_environment() if template.endswith(SHELL_SUFFIX) else text_environment()


def render(template: str, **context: Any) -> str:
    return environment(template).get_template(template).render(**context)
