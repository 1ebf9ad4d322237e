from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.api.main import create_app
from app.config import Settings
from app.db.dependencies import get_sessionmaker
from app.db.session import create_sessionmaker


async def test_health_ok(client: AsyncClient) -> None:
    response = await client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_health_is_503_when_the_database_is_unreachable() -> None:
    # Nothing listens on port 1: the connect fails at once, and the probe says so.
    engine = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none", poolclass=NullPool)
    app = create_app()
    app.dependency_overrides[get_sessionmaker] = lambda: create_sessionmaker(engine)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        response = await client.get("/health")
    await engine.dispose()

    assert response.status_code == 503
    assert response.json() == {"detail": "database unavailable"}


async def test_lifespan_wires_a_real_engine(settings: Settings) -> None:
    # ASGITransport skips lifespan events, so enter the lifespan ourselves: the real engine and
    # sessionmaker, with no dependency override.
    app = create_app()
    async with app.router.lifespan_context(app):
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
            response = await client.get("/health")

    assert response.json() == {"status": "ok"}
