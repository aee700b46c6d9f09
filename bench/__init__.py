"""The benchmark: the same project served as ASGI (uvicorn) and as WSGI (gunicorn),
side by side, on real PostgreSQL, with a local identity provider of configurable
latency. `make bench` or `python -m bench`; results in docs/benchmarks.md.

Nothing here is imported by the application or the test suite.
"""
