"""Jinja2 environment for everything rendered from `templates/`."""

from __future__ import annotations

import shlex
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = PROJECT_ROOT / "templates"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["shquote"] = lambda value: shlex.quote(str(value))
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
