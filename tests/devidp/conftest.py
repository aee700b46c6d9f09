import httpx2
import pytest


def pytest_configure(config):
    # tests/conftest.py loads this plugin for the whole suite; loading it here as well
    # (a no-op once loaded) lets these tests run on their own.
    config.pluginmanager.import_plugin("tests.idp")


@pytest.fixture
def http(idp):
    """An HTTP client on the provider; it never follows redirects."""
    with httpx2.Client(base_url=idp.issuer, timeout=5) as client:
        yield client
