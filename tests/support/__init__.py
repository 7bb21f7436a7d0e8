"""What the tests (and the benchmarks) share: loopback servers, reference implementations
of Frappe's algorithms, and fixture data.  Imported as `support.<module>` from tests/
(tests/conftest.py puts tests/ on sys.path) and as `tests.support.<module>` from bench/."""
