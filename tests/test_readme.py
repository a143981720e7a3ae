"""The README stays true: every setting and every subcommand is documented there."""

from __future__ import annotations

from pathlib import Path

from bot import cli, settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _env_names() -> list[str]:
    names = []
    for name, field in settings.Settings.model_fields.items():
        group = field.annotation
        if hasattr(group, "model_fields"):
            names += [f"{name.upper()}_{sub.upper()}" for sub in group.model_fields]
        else:
            names.append(field.alias or name.upper())
    return names


def test_every_setting_is_in_the_readme() -> None:
    missing = [name for name in _env_names() if f"`{name}`" not in README]
    assert not missing, f"settings missing from README.md: {missing}"


def test_every_subcommand_is_in_the_readme() -> None:
    parser = cli._parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert commands
    missing = [c for c in commands if f"`opsbot {c}" not in README]
    assert not missing, f"subcommands missing from README.md: {missing}"


def test_the_two_commands_are_the_ones_ci_runs() -> None:
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "bash ./deploy/setup.sh --dev && bash ./deploy/test.sh" in ci
    assert "bash ./deploy/setup.sh --dev && bash ./deploy/test.sh" in README
    assert "bash ./deploy/setup.sh && .venv/bin/opsbot demo" in README
