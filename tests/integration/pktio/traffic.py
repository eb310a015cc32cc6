# SPDX-License-Identifier: LGPL-2.1-or-later
"""Traffic for the AF_PACKET pktio tests; each mode bounds itself in time.

udp-server ADDR PORT0 NPORTS SECONDS   echo datagrams on NPORTS ports; prints
                                       "ready" once they are bound
udp-client ADDR PORT0 NPORTS COUNT     COUNT datagrams per port from a fresh
                                       socket; exit 0 if >= 90 % come back
udp-blast  ADDR PORT SIZE COUNT        fire-and-forget datagrams of SIZE bytes
tcp-server ADDR PORT                   accept one connection, print "bytes sha256"
tcp-client ADDR PORT BYTES             send BYTES (pattern), print "bytes sha256"
"""
import hashlib
import select
import socket
import sys
import time


def udp_server(addr, port0, nports, seconds):
    socks = []
    for i in range(nports):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((addr, port0 + i))
        socks.append(s)
    print("ready", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ready, _, _ = select.select(socks, [], [], 0.2)
        for s in ready:
            data, peer = s.recvfrom(65535)
            s.sendto(data, peer)


def udp_client(addr, port0, nports, count):
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(nports)]
    sent = got = 0
    for i, s in enumerate(socks):
        s.setblocking(False)
        for j in range(count):
            s.sendto(b"loom-%d-%d" % (i, j), (addr, port0 + i))
            sent += 1
            time.sleep(0.0005)
    end = time.monotonic() + 3
    while got < sent and time.monotonic() < end:
        ready, _, _ = select.select(socks, [], [], 0.2)
        for s in ready:
            try:
                while True:
                    s.recv(65535)
                    got += 1
            except BlockingIOError:
                pass
    print(sent, got)
    return 0 if got * 10 >= sent * 9 else 1


def udp_blast(addr, port, size, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(count):
        s.sendto(b"x" * size, (addr, port))
        time.sleep(0.01)


def pattern(n):
    block = bytes(range(256)) * 256
    while n > 0:
        chunk = block[: min(n, len(block))]
        n -= len(chunk)
        yield chunk


def tcp_server(addr, port):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(1)
    ls.settimeout(30)
    c, _ = ls.accept()
    c.settimeout(30)
    h, n = hashlib.sha256(), 0
    while True:
        d = c.recv(1 << 20)
        if not d:
            break
        h.update(d)
        n += len(d)
    print(n, h.hexdigest(), flush=True)


def tcp_client(addr, port, nbytes):
    end = time.monotonic() + 15  # the server may start slowly on a busy machine
    while True:
        try:
            s = socket.create_connection((addr, port), timeout=5)
            break
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.1)
    s.settimeout(30)
    h = hashlib.sha256()
    t0 = time.monotonic()
    for chunk in pattern(nbytes):
        h.update(chunk)
        s.sendall(chunk)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    dt = time.monotonic() - t0
    print(nbytes, h.hexdigest(), "%.3f" % dt, flush=True)


def main(argv):
    mode, args = argv[1], argv[2:]
    if mode == "udp-server":
        return udp_server(args[0], int(args[1]), int(args[2]), float(args[3]))
    if mode == "udp-client":
        return udp_client(args[0], int(args[1]), int(args[2]), int(args[3]))
    if mode == "udp-blast":
        return udp_blast(args[0], int(args[1]), int(args[2]), int(args[3]))
    if mode == "tcp-server":
        return tcp_server(args[0], int(args[1]))
    if mode == "tcp-client":
        return tcp_client(args[0], int(args[1]), int(args[2]))
    print("unknown mode", mode, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv) or 0)
