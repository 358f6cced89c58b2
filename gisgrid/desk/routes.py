"""The desk's pages (thin: each reads through a service and renders a template of this package)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/desk", tags=["desk pages"])
