"""The one `mercator` command finds every installed package's subcommands."""

import pytest

from mercator.common import commands


def test_every_installed_package_adds_its_subcommand(capsys):
    assert commands.main(["--help"]) == 0
    usage = capsys.readouterr().err
    for name in ("topics", "import", "demo"):
        assert name in usage


def test_an_unknown_command_is_refused_by_name(capsys):
    assert commands.main(["tpoics"]) == 2
    assert "unknown command 'tpoics'" in capsys.readouterr().err


def test_a_subcommand_gets_its_arguments(capsys):
    with pytest.raises(SystemExit) as stop:
        commands.main(["topics", "--help"])
    assert stop.value.code == 0
    assert "apply" in capsys.readouterr().out
