# SPDX-License-Identifier: LGPL-2.1-or-later
"""UDP through the AF_XDP forwarder, content checked; bounded in time.

udp-check ADDR PORT COUNT   send COUNT datagrams of random content and sizes
                            (16..1400 bytes) to an echo server; print
                            "sent got corrupt"; exit 0 if >= 90 % came back
                            and none differs from what was sent
"""
import os
import select
import socket
import struct
import sys
import time


def udp_check(addr, port, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    sent = {}
    got = corrupt = 0

    def drain():
        nonlocal got, corrupt
        try:
            while True:
                data = s.recv(65535)
                seq = struct.unpack("!I", data[:4])[0] if len(data) >= 4 else -1
                if sent.get(seq) == data:
                    got += 1
                else:
                    corrupt += 1
        except BlockingIOError:
            pass

    for i in range(count):
        size = 16 + (i * 97) % 1385
        payload = struct.pack("!I", i) + os.urandom(size - 4)
        sent[i] = payload
        s.sendto(payload, (addr, port))
        time.sleep(0.001)
        drain()  # the socket buffer would overflow before the end
    end = time.monotonic() + 3
    while got + corrupt < count and time.monotonic() < end:
        ready, _, _ = select.select([s], [], [], 0.2)
        if ready:
            drain()
    print(count, got, corrupt, flush=True)
    return 0 if got * 10 >= count * 9 and corrupt == 0 else 1


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "udp-check":
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(udp_check(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
