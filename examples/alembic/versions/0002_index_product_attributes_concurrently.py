"""index product attributes concurrently

A plain CREATE INDEX locks the table against writes for the whole build. CONCURRENTLY does not,
but PostgreSQL refuses to run it inside a transaction block, so it goes in an autocommit block.
If the build fails it leaves an INVALID index behind: drop it and run the migration again (IF NOT
EXISTS would be wrong here: it would keep the invalid index).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05 12:46:26.697744

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Commits the migration's transaction so far, runs this outside any transaction, then reopens one.
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_products_attributes",
            "products",
            ["attributes"],
            postgresql_using="gin",
            postgresql_ops={"attributes": "jsonb_path_ops"},
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(
            "ix_products_attributes",
            table_name="products",
            postgresql_concurrently=True,
        )
