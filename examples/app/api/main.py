"""The FastAPI application. Serve it with an ASGI server, e.g. `uvicorn --factory app.api.main:create_app`."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app.api.routes import customers, health, orders, products
from app.config import get_settings
from app.db.session import create_engine, create_sessionmaker
from app.errors import DomainError


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # One engine (so one connection pool) per process, created inside the running event loop.
    engine = create_engine(get_settings())
    app.state.sessionmaker = create_sessionmaker(engine)
    try:
        yield
    finally:
        await engine.dispose()  # close the pooled connections cleanly at shutdown


def create_app() -> FastAPI:
    app = FastAPI(title="Shop", lifespan=lifespan)
    for module in (health, customers, products, orders):
        app.include_router(module.router)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        # NotFound -> 404, Conflict and OutOfStock -> 409. Invalid request bodies get FastAPI's 422.
        return JSONResponse(status_code=exc.status_code, content={"detail": str(exc)})

    return app
