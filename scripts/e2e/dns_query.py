#!/usr/bin/env python3
"""Asks one DNS server for a name's A record and prints the first address:
resolution through the cluster's CoreDNS without touching the host's resolver.

    dns_query.py SERVER NAME     exit 1 (and print nothing) when there is no answer
"""
import socket
import struct
import sys


def query(server, name):
    q = struct.pack(">HHHHHH", 0x5E2E, 0x0100, 1, 0, 0, 0)
    for part in name.rstrip(".").split("."):
        q += bytes([len(part)]) + part.encode()
    q += b"\x00" + struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.sendto(q, (server, 53))
    r = s.recv(4096)
    if r[:2] != q[:2] or r[3] & 0x0F != 0:
        return None
    ancount = struct.unpack(">H", r[6:8])[0]
    pos = len(q)  # the question section is echoed unchanged
    for _ in range(ancount):
        if r[pos] & 0xC0 == 0xC0:
            pos += 2
        else:
            while r[pos]:
                pos += r[pos] + 1
            pos += 1
        rtype, _cls, _ttl, rdlen = struct.unpack(">HHIH", r[pos:pos + 10])
        pos += 10
        if rtype == 1 and rdlen == 4:
            return socket.inet_ntoa(r[pos:pos + 4])
        pos += rdlen
    return None


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    addr = query(sys.argv[1], sys.argv[2])
    if not addr:
        sys.exit(1)
    print(addr)


if __name__ == "__main__":
    main()
