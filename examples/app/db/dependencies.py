"""FastAPI dependencies: one AsyncSession per request.

Where the commit lives: in the service that owns the use case, never here. FastAPI runs the code
after `yield` only once the response has been sent (and after any background tasks), so a commit
failing there could not change the response the client already has. Here we only roll back on error
and close. A route that schedules background tasks should depend on
`Depends(get_session, scope="function")`, so its session closes before the tasks run.
"""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


def get_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    # Created by the lifespan in app.api.main; tests override this dependency.
    return request.app.state.sessionmaker


async def get_session(
    sessionmaker: Annotated[async_sessionmaker[AsyncSession], Depends(get_sessionmaker)],
) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:  # closing returns the connection to the pool
        try:
            yield session
        except Exception:
            await session.rollback()
            raise


SessionDep = Annotated[AsyncSession, Depends(get_session)]
