"""The Anthropic upstream's simulated routes: the Admin API and claude.ai's feeds."""

from __future__ import annotations

from fastapi import APIRouter

from app.upstreams.anthropic.simulator import admin, claude_ai

router = APIRouter()
router.include_router(admin.router)
router.include_router(claude_ai.router)
