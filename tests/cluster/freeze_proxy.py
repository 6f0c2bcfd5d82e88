#!/usr/bin/env python3
"""A TCP proxy on loopback that stops forwarding on command: an API server
that stops answering in the middle of its connections, as a partitioned or
overloaded one does.

    freeze_proxy.py UPSTREAM_PORT PORT_FILE FREEZE_FILE

Listens on 127.0.0.1 (a free port, written to PORT_FILE once it listens) and
forwards every connection to 127.0.0.1:UPSTREAM_PORT, byte for byte (TLS
passes through unread). While FREEZE_FILE exists nothing moves: bytes already
read are held, no more are read in either direction, and new connections are
accepted but not connected upstream. Prints each freeze and thaw to standard
error. Ends on SIGTERM.
"""
import os
import socket
import sys
import threading
import time


def main():
    upstream_port = int(sys.argv[1])
    port_file, freeze_file = sys.argv[2], sys.argv[3]
    moving = threading.Event()
    moving.set()

    def watch_freeze_file():
        while True:
            frozen = os.path.exists(freeze_file)
            if frozen == moving.is_set():
                (moving.clear if frozen else moving.set)()
                print(f"{time.time():.3f} {'frozen' if frozen else 'thawed'}",
                      file=sys.stderr, flush=True)
            time.sleep(0.02)

    def pump(source, sink):
        try:
            while True:
                moving.wait()
                data = source.recv(65536)
                if not data:
                    break
                moving.wait()
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def serve(client):
        moving.wait()
        try:
            upstream = socket.create_connection(("127.0.0.1", upstream_port))
        except OSError:
            client.close()
            return
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=pump, args=(source, sink), daemon=True).start()

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    threading.Thread(target=watch_freeze_file, daemon=True).start()
    with open(port_file + ".tmp", "w") as f:
        f.write(f"{listener.getsockname()[1]}\n")
    os.rename(port_file + ".tmp", port_file)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=serve, args=(client,), daemon=True).start()


if __name__ == "__main__":
    main()
