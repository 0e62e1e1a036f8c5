from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.api.deps import State
from app.api.problems import problems
from app.services import health

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """A probe's answer."""

    status: str = Field(
        description="Always ok; /readyz answers 503 with a problem when the database does not"
        " answer"
    )


@router.get("/livez", summary="Liveness probe")
async def livez() -> Health:
    """The process is up. No dependencies are checked."""
    return Health(status="ok")


@router.get("/readyz", summary="Readiness probe (database round trip)", responses=problems(503))
async def readyz(state: State) -> Health:
    """The database answers a round trip; 503 with Retry-After when it does not."""
    await health.check_database(state)
    return Health(status="ok")
