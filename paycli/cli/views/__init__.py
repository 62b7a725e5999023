"""Human views of results (Rich), and the JSON view: the only place that prints results.

Every view takes the same result model that `--json` prints, so both always agree.
`NO_COLOR` is honoured by Rich itself.
"""

from paycli.cli.views.base import console, print_error, print_json, progress_bar
from paycli.cli.views.batch import batch_progress, batch_stopping, batch_summary
from paycli.cli.views.operations import (
    backed_up,
    exported,
    fixtures_loaded,
    gateway_reset,
    gateway_status,
    limits_shown,
    recovered,
    replay_report,
)
from paycli.cli.views.payments import (
    already_done,
    payment_resolved,
    payment_show,
    payments_list,
    refund_resolved,
    refunds_list,
)
from paycli.cli.views.reconcile import reconciled
from paycli.cli.views.tools import (
    announce,
    bench_progress,
    bench_result,
    db_copied,
    demo_summary,
)
from paycli.cli.views.wallet import wallet_balance, wallet_credit, wallet_history

__all__ = ["already_done", "announce", "backed_up", "batch_progress", "batch_stopping",
           "batch_summary", "bench_progress", "bench_result", "console", "db_copied",
           "demo_summary", "exported",
           "fixtures_loaded", "gateway_reset", "gateway_status", "limits_shown",
           "payment_resolved", "payment_show", "payments_list", "print_error", "print_json",
           "progress_bar", "reconciled", "recovered", "refund_resolved", "refunds_list",
           "replay_report", "wallet_balance", "wallet_credit", "wallet_history"]
