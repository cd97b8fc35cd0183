"""A slow link in front of a TCP server: a proxy that holds every request back a while.

The fault tests put one between an edge agent and its KubeSim, so that applying or
pruning an app of a few dozen objects takes seconds and a `kill -9` lands in the
middle of it, and one between the controller and the broker, so that publishing a
fleet does. `delay` can change at any time; 0 passes bytes straight through. While
it is above 0 at most `chunk` bytes go per delay (one small request, or one MQTT
message of a few hundred bytes, at a time).

    link = SlowLink(sim.port)
    kubeconfig = sim.write_kubeconfig(path)  ->  rewrite its server to link.url
    link.delay = 0.05   # every request from now on waits 50 ms before it is sent on
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class SlowLink:
    def __init__(
        self, target_port: int, target_host: str = "127.0.0.1", *, chunk: int = 65536
    ) -> None:
        self.target = (target_host, target_port)
        self.delay = 0.0
        self.chunk = chunk
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, name=f"slowlink:{self.port}", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._closed:
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, slow: bool) -> None:
        try:
            while data := source.recv(self.chunk if slow and self.delay > 0 else 65536):
                if slow and self.delay > 0:
                    time.sleep(self.delay)  # the link itself is slow: nothing to poll for
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            sockets, self._sockets = self._sockets, []
        self._listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()
