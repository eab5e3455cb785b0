"""`make run`'s launcher picking up after a run that was killed: its lock, and what it left running."""

import subprocess
import sys
import time

import pytest

from mercator.common.devrun import Abort, Launcher, RunSettings, command_line


def test_a_second_launcher_on_the_same_data_folder_is_refused_while_the_first_lives(tmp_path):
    first = Launcher(RunSettings(data_dir=tmp_path))
    first.claim()
    second = Launcher(RunSettings(data_dir=tmp_path))
    with pytest.raises(Abort, match="another `make run`"):
        second.claim()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="names a process's argv[0] through /proc")
def test_the_next_start_stops_what_a_killed_run_left_and_nothing_else(tmp_path, capsys):
    # A stand-in for a broker the last run left: its command line is `<broker binary> broker`.
    (tmp_path / "broker").write_text("import time\ntime.sleep(60)\n")
    broker_bin = str(tmp_path / "tansu")
    left = subprocess.Popen([broker_bin, "broker"], executable=sys.executable, cwd=tmp_path)
    stranger = subprocess.Popen(["sleep", "60"])  # its PID is in run.pids too, say reused since: not ours
    try:
        deadline = time.monotonic() + 10
        while command_line(left.pid) != [broker_bin, "broker"] and time.monotonic() < deadline:
            time.sleep(0.05)
        (tmp_path / "run.pids").write_text(f"{left.pid}\n{stranger.pid}\n")
        launcher = Launcher(RunSettings(data_dir=tmp_path))
        launcher.claim()
        launcher.sweep(broker_bin)
        assert left.wait(5) == -15  # SIGTERM, as an orderly stop sends
        assert stranger.poll() is None
        assert not (tmp_path / "run.pids").exists()
        out = capsys.readouterr().out
        assert f"(pid {left.pid})" in out and str(stranger.pid) not in out
    finally:
        for proc in (left, stranger):
            proc.kill()
            proc.wait()


def test_the_postgresql_option_names_its_setting_when_the_server_is_not_there():
    from mercator.common.devrun import postgres_databases
    from mercator.common.testing.broker import free_port

    with pytest.raises(Abort, match=r"MERCATOR_RUN_POSTGRES=postgresql://postgres@127\.0\.0\.1:\d+: cannot reach"):
        postgres_databases(f"postgresql://postgres@127.0.0.1:{free_port()}", "mercator", ["contacts"])
    with pytest.raises(Abort, match="MERCATOR_RUN_POSTGRES must be a postgresql:// URL"):
        postgres_databases("sqlite:///var/x.db", "mercator", ["contacts"])
    with pytest.raises(Abort, match="MERCATOR_RUN_POSTGRES_PREFIX"):
        postgres_databases("postgresql://postgres@127.0.0.1:5432", 'x"; DROP', ["contacts"])
