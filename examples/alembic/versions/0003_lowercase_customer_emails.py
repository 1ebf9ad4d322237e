"""lowercase customer emails

A data migration followed by the constraint that keeps the data that way:
1. lower-case the e-mails already stored (fails if two differ only by case: merge those first);
2. add the CHECK as NOT VALID: a brief lock, no table scan;
3. VALIDATE it in its own transaction: scans the table without blocking reads or writes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 12:46:35.892175

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The table as this migration sees it. Never import app models here: they describe the latest
# schema, which an old migration must not depend on.
customers = sa.table("customers", sa.column("email", sa.String))


def upgrade() -> None:
    # One statement is fine for a small table; for millions of rows, update in batches of ids.
    op.execute(
        customers.update()
        .where(customers.c.email != sa.func.lower(customers.c.email))
        .values(email=sa.func.lower(customers.c.email))
    )
    op.create_check_constraint(
        op.f("ck_customers_email_lowercase"), "customers", "email = lower(email)", postgresql_not_valid=True
    )
    # Commit the work above first: in the same transaction, VALIDATE would still be holding
    # the exclusive lock that ADD CONSTRAINT took.
    with op.get_context().autocommit_block():
        op.execute("ALTER TABLE customers VALIDATE CONSTRAINT ck_customers_email_lowercase")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_customers_email_lowercase"), "customers", type_="check")
    # The lower-casing is not undone: the original spelling is gone, and no code needs it.
