"""Tools for developers, first runs and training: the bench, its raw baselines, the demo,
loading fixtures (a known set of wallets, payments and refunds), and the mock gateway run as
a child process.

    bench          `paycli bench`: payments per second and latency through the real saga
    batchbench     `paycli bench --mode batch`: the billing run's engine, measured alike
    failoverbench  `paycli bench --gateway http --failover`: two gateways, the first
                   killed half way: the time to move, and nothing lost
    statsbench     `paycli bench --stats-payments N`: `stats` and a `top` refresh over a
                   scratch ledger of N payments, filled in bulk
    baselines      the raw limits the bench measures paycli against (raw SQLite, httpx,
                   psycopg)
    targets        the performance targets a run measures, met or missed, per engine
    profile        where a run's time went, for a missed target: cProfile in every thread
    startup        paycli's start-up beside a bare Typer app
    commits        a store that counts its committed write transactions, for the bench
    report         the bench's report: its models (`BenchReport` and its parts)
    demo           `paycli demo`: the seed system's scenarios with a verdict each
    fixtures       `paycli fixtures load`: wallets, payments and refunds from a file
    mock_process   the mock card gateway run as a child process, and driven

Invariants: these drive paycli through the same sagas and ledger as the commands do; the
named exceptions to the store's "only place with SQL" and the gateway client's "only place
with HTTP" live here, on purpose: `baselines` measures raw SQLite and raw httpx (going
through paycli would measure paycli), `statsbench` fills its scratch ledger by raw inserts
and `COPY` (a million payments through the saga would take an hour), and `mock_process`
drives the mock gateway's admin API (which paycli's client must not know). Nothing of the
bench lives in the product's packages: its report models are here, not in `results`.
"""
