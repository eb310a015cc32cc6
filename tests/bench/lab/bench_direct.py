# SPDX-License-Identifier: LGPL-2.1-or-later
"""Direct return against replies through the ingress agent (issue 8), in one
run on one topology: the namespace lab of tests/integration/svc/
test_svc_direct.py (a client, the ingress router with loom-fwd-agent and
loom-svc-mgr, two server hosts each with a host agent, a direct return
router).

For each mode an iperf3 download (-R: the server sends, the replies are the
bulk) of T seconds from the virtual address runs; the service is reloaded
between modes:

  through  direct-return: never  -- every reply crosses the host agent and
           the ingress agent, which translates it (what a load balancer
           without server-side translation does);
  direct   direct-return: always -- the host agent translates the replies
           and sends them to the direct return router.

Prints the reply throughput and the CPU time the ingress agent's process
spent (utime + stime from /proc) per mode, and the ratios direct/through.
Never asserts a figure; everything it creates is removed at the end, also
on failure or Ctrl-C.

Run as root with /usr/bin/python3:
  sudo /usr/bin/python3 tests/bench/lab/bench_direct.py --build build [-t 5]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SVC_TESTS = os.path.join(HERE, "..", "..", "integration", "svc")


def run(lab, seconds):
    """One download; (Gbit/s received, ingress agent CPU seconds)."""
    from conftest import cpu_seconds  # noqa: E402  (loaded by main() from SVC_TESTS)
    srv = subprocess.Popen(["ip", "netns", "exec", lab.srv[0], "iperf3", "-s", "-1"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        before = cpu_seconds(lab.ingress.proc.pid)
        out = subprocess.run(["ip", "netns", "exec", lab.cli, "iperf3", "-c", "10.9.0.1",
                              "-R", "-t", str(seconds), "-J"], capture_output=True, text=True,
                             timeout=seconds + 30)
        cpu = cpu_seconds(lab.ingress.proc.pid) - before
        if out.returncode != 0:
            raise RuntimeError(f"iperf3 failed: {out.stderr or out.stdout[-500:]}")
        rep = json.loads(out.stdout)
        return rep["end"]["sum_received"]["bits_per_second"] / 1e9, cpu
    finally:
        srv.kill()
        srv.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build", help="the meson build directory")
    ap.add_argument("-t", type=int, default=5, help="seconds per mode")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    os.environ.update(LOOM_AGENT=f"{build}/fwd-agent/loom-fwd-agent",
                      LOOM_SVC_MGR=f"{build}/svc-mgr/loom-svc-mgr",
                      LOOM_CTL=f"{build}/provisioner/loomctl/loomctl")
    sys.path.insert(0, SVC_TESTS)
    from conftest import Topo  # noqa: E402  (the integration tests' namespaces)
    from test_svc_direct import Lab  # noqa: E402

    tmp = tempfile.mkdtemp(prefix="loom-bench-direct-")
    os.chmod(tmp, 0o755)
    topo = Topo(f"bd{os.getpid() % 10000}", tmp)
    results = {}
    try:
        lab = Lab(topo, "never")
        lab.close()  # its one-shot iperf3 server: run() starts its own
        results["through"] = run(lab, args.t)
        lab.mgr.reload(lab.services("always"))
        results["direct"] = run(lab, args.t)
    finally:
        topo.down()
        shutil.rmtree(tmp, ignore_errors=True)

    (g_t, c_t), (g_d, c_d) = results["through"], results["direct"]
    print(f"\nreply throughput, one iperf3 -R stream, {args.t} s per mode")
    print(f"{'mode':10} {'Gbit/s':>8} {'ingress agent CPU s':>20} {'CPU s per GB':>13}")
    for name, (g, c) in results.items():
        gb = g * args.t / 8
        print(f"{name:10} {g:8.2f} {c:20.2f} {c / gb if gb else 0:13.3f}")
    print(f"\ndirect/through: throughput {g_d / g_t:.2f}x, ingress agent CPU time "
          f"{(c_d / c_t) if c_t else 0:.2f}x")


if __name__ == "__main__":
    main()
