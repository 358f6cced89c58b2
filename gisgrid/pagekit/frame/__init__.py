"""The frame the staff pages share (field, desk): ``frame.html`` for their base templates to
extend, and the stylesheet and script every one of them loads, served under ``/static/kit``."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader

STATIC = Path(__file__).parent


def templates(directory: Path) -> Jinja2Templates:
    """The templates of ``directory``, which may extend ``frame.html``."""
    found = Jinja2Templates(directory=directory)
    found.env.loader = ChoiceLoader([FileSystemLoader(directory), FileSystemLoader(STATIC)])
    return found
