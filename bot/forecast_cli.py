"""`opsbot forecast --csv FILE --horizon N [--json]`: forecast the N points after a
`timestamp,value` history (ISO 8601 or epoch seconds, regular step)."""

from __future__ import annotations

import argparse
import json
import sys

from bot import settings as settings_mod
from graph.analysis import forecast, series

__all__ = ["run_forecast"]


def run_forecast(args: argparse.Namespace, settings: settings_mod.Settings) -> int:
    history = series.read_csv(args.csv)
    result = forecast.forecast(history, args.horizon, interval=args.interval)
    document = result.to_json()
    if args.json:
        sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
        return 0
    backtest = document["backtest"]
    print(f"model {document['model']}  backtest sMAPE {backtest.get('smape')} %  "
          f"MASE {backtest.get('mase')}  history {document['history']['points']} points")
    for note in document["notes"]:
        print(f"note: {note}")
    print("timestamp                  value      lower      upper")
    for point in document["forecast"]:
        print(f"{point['timestamp']!s:<24} {point['value']:>10.4g} {point['lower']:>10.4g} "
              f"{point['upper']:>10.4g}")
    return 0
