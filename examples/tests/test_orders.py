from typing import Any

from httpx import AsyncClient


async def make_customer(client: AsyncClient, email: str = "buyer@example.com") -> int:
    response = await client.post("/customers", json={"email": email, "name": "Buyer"})
    return response.json()["id"]


async def make_product(client: AsyncClient, sku: str, stock: int, price: str = "2.50") -> dict[str, Any]:
    response = await client.put(
        f"/products/{sku}", json={"name": sku.title(), "price": price, "stock": stock}
    )
    return response.json()


async def stock_of(client: AsyncClient, product_id: int) -> int:
    products = (await client.get("/products", params={"limit": 100})).json()["items"]
    return next(p["stock"] for p in products if p["id"] == product_id)


async def test_place_order_decrements_stock(client: AsyncClient) -> None:
    customer_id = await make_customer(client)
    pen = await make_product(client, "PEN", stock=10, price="1.20")
    ink = await make_product(client, "INK", stock=3, price="4.00")

    response = await client.post(
        "/orders",
        json={
            "customer_id": customer_id,
            "items": [{"product_id": ink["id"], "quantity": 3}, {"product_id": pen["id"], "quantity": 2}],
        },
    )

    assert response.status_code == 201
    order = response.json()
    assert order["status"] == "pending"  # the enum's value, as stored in PostgreSQL
    assert order["total"] == "14.40"  # 2 x 1.20 + 3 x 4.00, in exact decimal arithmetic
    assert await stock_of(client, pen["id"]) == 8
    assert await stock_of(client, ink["id"]) == 0


async def test_out_of_stock_is_409_and_changes_nothing(client: AsyncClient) -> None:
    customer_id = await make_customer(client)
    cup = await make_product(client, "CUP", stock=5)
    lid = await make_product(client, "LID", stock=1)

    response = await client.post(
        "/orders",
        json={
            "customer_id": customer_id,
            # CUP is locked and decremented in memory before LID turns out to be short.
            "items": [{"product_id": cup["id"], "quantity": 2}, {"product_id": lid["id"], "quantity": 2}],
        },
    )

    assert response.status_code == 409
    assert response.json() == {"detail": "product LID: 2 requested, 1 in stock"}
    assert await stock_of(client, cup["id"]) == 5  # the rollback discarded the decrement
    assert await stock_of(client, lid["id"]) == 1
    orders = (await client.get(f"/customers/{customer_id}/orders")).json()
    assert orders == {"items": [], "next_cursor": None}


async def test_order_for_unknown_product_is_404(client: AsyncClient) -> None:
    customer_id = await make_customer(client)

    response = await client.post(
        "/orders", json={"customer_id": customer_id, "items": [{"product_id": 999999999, "quantity": 1}]}
    )

    assert response.status_code == 404
    assert response.json() == {"detail": "Product 999999999 not found"}


async def test_get_order_returns_nested_items_and_products(client: AsyncClient) -> None:
    customer_id = await make_customer(client)
    tea = await make_product(client, "TEA", stock=5, price="3.00")
    placed = (
        await client.post(
            "/orders", json={"customer_id": customer_id, "items": [{"product_id": tea["id"], "quantity": 2}]}
        )
    ).json()

    response = await client.get(f"/orders/{placed['id']}")

    assert response.status_code == 200
    order = response.json()
    assert order == placed  # what POST returned is what a fresh read returns
    assert order["customer_id"] == customer_id
    [item] = order["items"]
    assert item["quantity"] == 2
    assert item["unit_price"] == "3.00"
    assert item["product"] == {"id": tea["id"], "sku": "TEA", "name": "Tea"}


async def test_customer_orders_are_paginated_newest_first(client: AsyncClient) -> None:
    customer_id = await make_customer(client)
    gum = await make_product(client, "GUM", stock=10)
    order_ids = []
    for _ in range(3):
        body = {"customer_id": customer_id, "items": [{"product_id": gum["id"], "quantity": 1}]}
        order_ids.append((await client.post("/orders", json=body)).json()["id"])

    first = (await client.get(f"/customers/{customer_id}/orders", params={"limit": 2})).json()
    second = (
        await client.get(
            f"/customers/{customer_id}/orders", params={"limit": 2, "after": first["next_cursor"]}
        )
    ).json()

    assert [o["id"] for o in first["items"]] == order_ids[:0:-1]  # the two newest
    assert [o["id"] for o in second["items"]] == order_ids[:1]
    assert second["next_cursor"] is None


async def test_duplicate_product_lines_are_422(client: AsyncClient) -> None:
    line = {"product_id": 1, "quantity": 1}

    response = await client.post("/orders", json={"customer_id": 1, "items": [line, line]})

    assert response.status_code == 422
