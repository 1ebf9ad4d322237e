"""A background worker that confirms pending orders. Run it with `python -m app.worker`.

Each batch opens its own session and transaction: a session is never shared between tasks, and
FOR UPDATE SKIP LOCKED lets any number of worker processes poll the same table safely.
"""

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import get_settings
from app.db.session import create_engine, create_sessionmaker
from app.models import OrderStatus
from app.repositories.order import OrderRepository


async def confirm_pending_orders(sessionmaker: async_sessionmaker[AsyncSession], batch_size: int = 10) -> int:
    """Claim one batch, confirm it, commit. Returns how many orders were confirmed."""
    # session.begin() commits when the block ends (rolls back on an exception), releasing the locks.
    async with sessionmaker() as session, session.begin():
        orders = await OrderRepository(session).claim_pending(batch_size)
        for order in orders:
            order.status = OrderStatus.CONFIRMED  # real work (payment, e-mail...) would happen here
        return len(orders)


async def main(poll_interval: float = 1.0) -> None:
    engine = create_engine(get_settings())
    sessionmaker = create_sessionmaker(engine)
    try:
        while True:
            if await confirm_pending_orders(sessionmaker) == 0:
                await asyncio.sleep(poll_interval)  # queue empty: wait before polling again
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
