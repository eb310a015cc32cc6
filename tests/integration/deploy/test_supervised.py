# SPDX-License-Identifier: LGPL-2.1-or-later
"""The supervised lab as its user meets it (issue 5, item 5): one command
starts every daemon under runsvdir; each runs as its own user with only its
capabilities; a daemon killed with SIGKILL is restarted and the virtual
service answers again; the tables and sockets they share belong to the loom
group. Bounded: well under a minute."""
import grp
import os
import shutil
import signal
import stat

from conftest import EXPECTED, cap_set, sh, uid_of

RESTART_S = 15  # a killed daemon runs again and the service answers within


def served(lab):
    """The virtual service, the service chain and the provisioner's API answer."""
    return ("loom lab server" in lab.curl() and
            "loom lab chain server" in lab.curl("http://10.8.0.1/") and
            lab.api_login())


def assert_confined(lab, daemon, pid, st):
    user, caps = EXPECTED[daemon]
    loom = grp.getgrnam("loom").gr_gid
    where = f"{daemon} (pid {pid})"
    assert open(f"/proc/{pid}/comm").read().strip() == daemon[:15], \
        f"{where}: the supervised pid is not the daemon"
    assert st["Uid"].split() == [str(uid_of(user))] * 4, f"{where}: Uid {st['Uid']}"
    assert st["Gid"].split() == [str(grp.getgrnam(user).gr_gid)] * 4, f"{where}: Gid {st['Gid']}"
    assert str(loom) in st["Groups"].split(), f"{where}: not in the loom group: {st['Groups']}"
    for field in ("CapEff", "CapPrm", "CapBnd"):
        assert cap_set(st[field]) == caps, f"{where}: {field} {st[field]}, wanted {sorted(caps)}"
    for field in ("CapInh", "CapAmb"):
        assert cap_set(st[field]) == set(), f"{where}: {field} {st[field]}"
    assert st["NoNewPrivs"] == "1", f"{where}: no_new_privs not set"
    if shutil.which("getpcaps"):
        r = sh("getpcaps", str(pid))
        out = r.stdout + r.stderr
        names = {"cap_net_raw": 13, "cap_net_admin": 12}
        seen = {n for n, c in names.items() if n in out}
        assert seen == {n for n, c in names.items() if c in caps}, f"{where}: getpcaps: {out}"


def test_the_virtual_service_answers(lab):
    assert set(EXPECTED) == set(lab.services()), lab.services()
    lab.wait(lambda: served(lab), 10, "10.9.0.1:80, 10.8.0.1:80 and the API to answer")
    assert "loom lab server" in lab.curl("http://[fd00:9::1]/")


def test_each_daemon_is_its_own_user_with_only_its_capabilities(lab):
    for daemon in lab.services():
        pid, st = lab.wait(lambda: lab.dropped(daemon), 5, f"{daemon} to drop privileges")
        assert_confined(lab, daemon, pid, st)


def test_the_shared_tables_and_sockets_are_the_loom_groups(lab):
    loom = grp.getgrnam("loom").gr_gid
    segs = (f"/dev/shm/loom.{lab.instance}.affinity", f"/dev/shm/loom.{lab.instance}-mgr.flow")
    sock = f"{lab.run}/ipc/mgr.sock"
    # this test may run alone (-k), before any other waited for the daemons
    lab.wait(lambda: all(os.path.exists(p) for p in (*segs, sock)), 10,
             "the agent's and the manager's tables and the manager's socket")
    for seg in segs:
        st = os.stat(seg)
        assert (st.st_gid, stat.S_IMODE(st.st_mode)) == (loom, 0o660), \
            f"{seg}: group {st.st_gid} mode {stat.S_IMODE(st.st_mode):o}"
    st = os.stat(sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert st.st_gid == loom and stat.S_IMODE(st.st_mode) & 0o007 == 0, \
        f"mgr.sock: group {st.st_gid} mode {stat.S_IMODE(st.st_mode):o}"


def test_sigkill_restarts_each_daemon_and_the_lab_serves_again(lab):
    for daemon in lab.services():
        old = lab.pid(daemon)
        assert old, f"{daemon} is not running\n" + lab.logs()
        os.kill(old, signal.SIGKILL)

        def restarted():
            got = lab.dropped(daemon)
            return got if got and got[0] != old else None
        pid, st = lab.wait(restarted, RESTART_S, f"{daemon} to be restarted")
        assert_confined(lab, daemon, pid, st)
        lab.wait(lambda: served(lab), RESTART_S,
                 f"the services and the API to answer after {daemon} restarted")
