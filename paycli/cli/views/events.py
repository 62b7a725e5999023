"""Views of `events tail`: one line per event, or one JSON line."""

from __future__ import annotations

import json
import sys

from paycli.cli.views.base import when
from paycli.results.stats import EventLine


def event_line(line: EventLine, as_json: bool) -> None:
    """One event: `at  type  id  actor  summary`, or its JSON object on one line."""
    if as_json:
        text = json.dumps(line.to_json(), ensure_ascii=False)
    else:
        text = (f"{when(line.at)}  {line.type:<24} {line.id}  {line.actor or '-'}  "
                f"{line.summary}").rstrip()
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
