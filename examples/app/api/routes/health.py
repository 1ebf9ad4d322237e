import asyncio

from fastapi import APIRouter, HTTPException
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.db.dependencies import SessionDep

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(session: SessionDep) -> dict[str, str]:
    # Bounded: a load balancer's probe must get an answer, even while the database or the pool hangs.
    try:
        async with asyncio.timeout(2):
            await session.execute(text("SELECT 1"))
    # TimeoutError: over budget. OSError: no server (asyncpg's connect errors arrive unwrapped).
    except (TimeoutError, OSError, SQLAlchemyError) as exc:
        raise HTTPException(status_code=503, detail="database unavailable") from exc
    return {"status": "ok"}
