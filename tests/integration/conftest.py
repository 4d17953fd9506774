"""Integration tests run against a store of their own (a fresh database per module), so they may count and scan
the whole log without meeting the events of the shared gateway."""

from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
import pytest
from storekit import app_connection, owner_connection


@pytest.fixture(scope="module")
def store(fresh_database: Callable[[], str]) -> str:
    """The URL of this module's own database."""
    return fresh_database()


@pytest.fixture
async def app_conn(store: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with app_connection(store) as conn:
        yield conn


@pytest.fixture
async def owner(store: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with owner_connection(store) as conn:
        yield conn
