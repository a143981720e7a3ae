"""The predict route on the sandbox's week of history, and `opsbot forecast`."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from tests import harness


def test_predict_card_with_chart_and_memory_warning(tmp_path: Path, redis_url: str) -> None:
    settings = harness.make_settings(tmp_path, redis_url)
    with harness.RuntimeHarness(settings, scenario="oom") as bot:
        result = bot.say("how many replicas will checkout-api need for tomorrow's peak?")
        assert result.route == "predict"
        card = result.replies[0]
        assert card.title == "Forecast: Deployment/shop/checkout-api"
        fields = {f.label: f.value for f in card.fields}
        assert "req/s" in fields["Forecast peak"]
        assert fields["Replicas now"].startswith("3")
        assert "Replicas needed" in fields
        assert card.images and Path(card.images[0]).stat().st_size > 1000
        assert "backtest sMAPE" in card.footnote and "Model" in card.footnote

        memory = bot.say("/predict orders memory 48h").replies[0]
        assert memory.title == "Memory: Deployment/shop/orders"
        assert "memory of orders" in memory.text


def test_forecast_cli_json_and_bad_input(tmp_path: Path) -> None:
    rows = ["timestamp,value"] + [
        f"{1_700_000_000 + 3600 * i},{100 + 50 * math.sin(2 * math.pi * i / 24):.3f}"
        for i in range(24 * 10)]
    history = tmp_path / "load.csv"
    history.write_text("\n".join(rows) + "\n")
    done = subprocess.run([sys.executable, "-m", "bot.cli", "forecast", "--csv", str(history),
                           "--horizon", "24", "--json"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads(done.stdout)
    assert len(document["forecast"]) == 24
    assert set(document["forecast"][0]) == {"timestamp", "value", "lower", "upper"}
    assert document["model"] and "smape" in document["backtest"]
    # A sine of period one day is forecast within a few percent.
    first = document["forecast"][0]
    expected = 100 + 50 * math.sin(2 * math.pi * 240 / 24)
    assert abs(first["value"] - expected) < 5
    broken = tmp_path / "broken.csv"
    broken.write_text("timestamp,value\n1700000000,1\nnot-a-time,2\n1700007200,3\n")
    refused = subprocess.run([sys.executable, "-m", "bot.cli", "forecast", "--csv",
                              str(broken), "--horizon", "3"], capture_output=True, text=True,
                             timeout=120, check=False)
    assert refused.returncode == 2
    assert "line 3" in refused.stderr
