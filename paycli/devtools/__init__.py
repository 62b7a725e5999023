"""Tools for developers, first runs and training: the bench, its raw baselines, the demo,
loading fixtures (a known set of wallets, payments and refunds), and the mock gateway run as
a child process.

Invariants: these drive paycli through the same sagas and ledger as the commands do; the
two named exceptions to the store's "only place with SQL" and the gateway client's "only
place with HTTP" live here, on purpose: `baselines` measures raw SQLite and raw httpx
(going through paycli would measure paycli), and `mock_process` drives the mock gateway's
admin API (which paycli's client must not know).
"""
