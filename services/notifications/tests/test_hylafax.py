"""Fax through HylaFAX: `sendfax` (Debian's hylafax-client) hands the PDF to a real HylaFAX server
(hylafax-server's faxq and hfaxd, a private spool, on 127.0.0.1, no modem), whose send queue must then
hold the job for the number with the document."""

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from mercator.common.events import catalogue as ev
from mercator.common.testing import kit
from mercator.common.testing.api import rolled_back_app
from mercator.common.testing.broker import free_port, port_open
from mercator.common.testing.plugin import need
from mercator.notifications.app import build_app
from mercator.notifications.tables import Message
from mercator.notifications.testing import World, pdf_text

pytestmark = pytest.mark.postgres


class HylaFaxServer:
    def __init__(self):
        self.port = free_port()
        self.spool = Path(tempfile.mkdtemp(prefix="mercator-hylafax-"))
        self.procs: list[subprocess.Popen] = []

    def start(self) -> "HylaFaxServer":
        shutil.copytree("/var/spool/hylafax", self.spool, dirs_exist_ok=True, symlinks=True)
        for f in Path("/etc/hylafax").iterdir():
            if f.is_file():
                shutil.copy(f, self.spool / "etc" / f.name)
        # Clients from loopback only, any user name.
        (self.spool / "etc" / "hosts.hfaxd").write_text("127.0.0.1\nlocalhost\n")
        os.mkfifo(self.spool / "FIFO")
        uucp = pwd.getpwnam("uucp")
        for path in [self.spool, *self.spool.rglob("*")]:
            os.chown(path, uucp.pw_uid, uucp.pw_gid, follow_symlinks=False)
        self.spool.chmod(0o755)
        self.procs.append(
            subprocess.Popen(
                ["/usr/sbin/faxq", "-q", str(self.spool), "-D"],
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        # -l before -i: hfaxd binds the port to the address named before it.
        self.procs.append(
            subprocess.Popen(
                ["/usr/sbin/hfaxd", "-q", str(self.spool), "-d", "-l", "127.0.0.1", "-i", str(self.port)],
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        deadline = time.monotonic() + 10
        while not port_open(self.port):
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("hfaxd did not listen")
            time.sleep(0.05)
        return self

    def jobs(self) -> list[dict[str, str]]:
        out = []
        for q in sorted((self.spool / "sendq").glob("q[0-9]*")):
            out.append(dict(line.split(":", 1) for line in q.read_text().splitlines() if ":" in line))
        return out

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait(5)
        self.procs.clear()
        shutil.rmtree(self.spool, ignore_errors=True)


@pytest.fixture
def hylafax():
    for tool in ("/usr/sbin/faxq", "/usr/sbin/hfaxd"):
        if not Path(tool).exists():
            need("Debian's hylafax-server (make system)", f"{tool} is missing")
    if shutil.which("sendfax") is None:
        need("Debian's hylafax-client (make system)", "sendfax is missing")
    if os.geteuid() != 0:
        need("root", "the HylaFAX server's spool belongs to uucp")
    server = HylaFaxServer().start()
    yield server
    server.stop()


async def test_a_fax_through_hylafax_reaches_the_servers_send_queue(settings, notifications_db, hylafax, manager):
    settings = settings.model_copy(update={"fax_transport": "hylafax", "fax_hylafax_host": f"127.0.0.1:{hylafax.port}"})
    async with rolled_back_app(settings, notifications_db.engine, lambda s, rt: build_app(s, rt)) as app:
        from mercator.notifications import consumers

        handlers = {t: h for g in consumers.handlers(settings).values() for t, h in g.items()}
        world = World(manager)
        proposal = ev.ProposalSent(
            proposal_id=uuid.uuid4(),
            deal_id=world.deal_id,
            company_id=world.company_id,
            documents=["proposal"],
            recipient_person_ids=[world.person_id],
            channel="fax",
            sent_at=datetime.now(UTC),
            author_id=manager.user_id,
        )
        for payload in [*world.events(), proposal]:
            await kit.feed(app, handlers, payload)
        assert await app.state.sender.run_once() == 1
        async with app.state.runtime.sessionmaker() as s:
            [m] = (await s.execute(select(Message))).scalars().all()
        assert (m.channel, m.recipient, m.status, m.last_error) == ("fax", "+74951234567", "sent", None)
    [job] = hylafax.jobs()
    assert job["number"] == "+74951234567" and job["owner"] == "mercator"
    [document] = list((hylafax.spool / "docq").glob("doc*.pdf*"))
    assert "Станок токарный" in pdf_text(document.read_bytes())
