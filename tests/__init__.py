"""PiCloud's tests, laid out like the package.

Where a test lives
------------------

- ``tests/<layer>/test_<module>.py`` tests ``picloud/<layer>/<module>.py``
  (``tests/brokers/redis/test_sequencer.py`` tests
  ``picloud/brokers/redis/sequencer.py``); what a package's ``__init__.py``
  defines is tested in ``test_init.py`` of its folder.
- ``tests/test_<module>.py`` tests a top-level module: ``test_cli.py``,
  ``test_config.py``, ``test_setting.py``, ``test_settings_docs.py``;
  ``test_architecture.py`` checks the rules of ARCHITECTURE.md.
- A test lives with the module it exercises most. For an end-to-end test
  (loopback sockets, a real ``picloud serve``) that is the module whose route
  or behaviour it checks: ``GET /history`` in ``server/test_queries.py``,
  SIGTERM and slow handshakes in ``server/test_serve.py``, the TLS reload in
  ``server/test_tls.py``. A file whose tests belong to several modules is
  split among them.
- Only a feature that no single module carries gets a file named for the
  feature, in the folder of the layer it runs on: ``server/test_hostile.py``,
  ``test_churn.py``, ``test_memory_per_connection.py``, ``test_xheaders.py``,
  and the pages of ``picloud/static/`` in Chromium, ``test_dashboard.py`` and
  ``test_browser_client.py``.
- What lies outside the package is tested at the top, in a file named for
  it: ``test_deploy.py`` (fabfile.py, fabfile_nginx.py and the service files
  in etc/), ``test_nginx.py`` (etc/nginx/picloud.conf), ``test_examples.py``
  (examples/), ``test_bench*.py`` (bench/).

Rules
-----

- ``tests/wire/``, ``tests/hub/`` and ``tests/stores/`` need no sockets and no
  Tornado: they import neither (nor ``picloud.server`` or ``picloud.client``),
  and use none of pytest-tornado's fixtures or of the fixtures that serve or
  start a hub; plain functions, or ``asyncio.run``. They may build a hub with
  ``MemoryBroker`` and ``SqliteStore``. test_architecture.py checks it, the
  helpers they import included.
- Fixtures are in ``conftest.py``, for every folder. A test that needs the
  in-process hub with other settings says so with ``@pytest.mark.config(...)``.
- Helpers are in ``tests/support/``; no test module imports another. Imports
  of the helpers are absolute: ``from tests.support.hub import KEY``.
"""
