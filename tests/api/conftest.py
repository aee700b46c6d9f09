"""Fixtures shared by the API tests."""

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from accounts import keys
from authsite.asgi import django_application
from authsite.fastlane.app import FastLane
from tests.api.refreshkit import echo
from tests.e2e.servers import free_port


@pytest.fixture
async def database_down():
    """The database server gone: every new connection is refused. Django's connections
    (and its pool) are closed and its settings pointed at a port nobody listens on, as a
    server's settings would be when the database host stops; put back afterwards."""
    nobody = free_port()

    def cut():
        connection = connections["default"]
        connection.close()
        connection.close_pool()
        saved = dict(connection.settings_dict)
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(nobody))
        options = dict(connection.settings_dict["OPTIONS"])
        options.pop("pool", None)  # a pool would wait DB_POOL_TIMEOUT for each request
        options["connect_timeout"] = 2
        connection.settings_dict["OPTIONS"] = options
        return saved

    def restore(saved):
        connection = connections["default"]
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)

    saved = await sync_to_async(cut)()
    yield
    await sync_to_async(restore)(saved)


@pytest.fixture
async def lane(transactional_db):
    """The lane in front of a stand-in. The signing key is made and loaded first, as
    Django's path does for a process's first token: the lane reads no key from the
    database (test_keys_the_process_does_not_hold_are_left_to_django)."""
    await keys.asigner()
    fast_lane = FastLane(echo)
    yield fast_lane
    await fast_lane.close()


@pytest.fixture
async def full_stack():
    """The production application: the lane in front of Django."""
    fast_lane = FastLane(django_application)
    yield fast_lane
    await fast_lane.close()
