from datetime import datetime

from httpx import AsyncClient


async def test_register_customer(client: AsyncClient) -> None:
    response = await client.post("/customers", json={"email": " Ann@Example.com ", "name": "Ann"})

    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "ann@example.com"  # normalised by the schema
    assert isinstance(body["id"], int)
    assert datetime.fromisoformat(body["created_at"]).tzinfo is not None  # TIMESTAMPTZ, aware


async def test_duplicate_email_is_409(client: AsyncClient) -> None:
    await client.post("/customers", json={"email": "bob@example.com", "name": "Bob"})

    response = await client.post("/customers", json={"email": "BOB@example.com", "name": "Bobby"})

    assert response.status_code == 409
    assert response.json() == {"detail": "email bob@example.com is already registered"}
    # The failed commit rolled back only its savepoint: the connection is still usable.
    assert (
        await client.post("/customers", json={"email": "bo@example.com", "name": "Bo"})
    ).status_code == 201


async def test_patch_changes_only_the_fields_sent(client: AsyncClient) -> None:
    created = (await client.post("/customers", json={"email": "cy@example.com", "name": "Cy"})).json()

    response = await client.patch(f"/customers/{created['id']}", json={"name": "Cyrus"})

    assert response.status_code == 200
    updated = response.json()
    assert updated["name"] == "Cyrus"
    assert updated["email"] == "cy@example.com"  # not sent, so not touched
    assert updated["created_at"] == created["created_at"]
    # Read back with RETURNING after the UPDATE (eager_defaults): no MissingGreenlet. Equal here,
    # as now() is the start of the transaction, and each test runs in a single one.
    assert updated["updated_at"] >= created["updated_at"]
    assert (await client.get(f"/customers/{created['id']}")).json() == updated


async def test_patch_with_explicit_null_is_422(client: AsyncClient) -> None:
    created = (await client.post("/customers", json={"email": "di@example.com", "name": "Di"})).json()

    response = await client.patch(f"/customers/{created['id']}", json={"name": None})

    assert response.status_code == 422


async def test_patch_to_a_taken_email_is_409(client: AsyncClient) -> None:
    await client.post("/customers", json={"email": "ed@example.com", "name": "Ed"})
    fay = (await client.post("/customers", json={"email": "fay@example.com", "name": "Fay"})).json()

    response = await client.patch(f"/customers/{fay['id']}", json={"email": "ed@example.com"})

    assert response.status_code == 409
    assert (await client.get(f"/customers/{fay['id']}")).json()["email"] == "fay@example.com"


async def test_unknown_customer_is_404(client: AsyncClient) -> None:
    response = await client.get("/customers/999999999")

    assert response.status_code == 404
    assert response.json() == {"detail": "Customer 999999999 not found"}
