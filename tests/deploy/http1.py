"""Raw HTTP/1.1 over a socket: a request whose body arrives in two parts (an in-flight request)."""

from __future__ import annotations

import json
import socket


class SlowPost:
    """POST ``path`` with a JSON body sent in two halves, so the request stays in flight."""

    def __init__(self, port: int, path: str, body: dict[str, object]) -> None:
        self.payload = json.dumps(body).encode()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(self.payload)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        self.half = len(self.payload) // 2
        self.sock.sendall(head + self.payload[: self.half])

    def finish(self) -> tuple[int, bytes]:
        """Send the rest; return the status code and the body of the complete response."""
        self.sock.sendall(self.payload[self.half :])
        chunks: list[bytes] = []
        while True:
            data = self.sock.recv(65536)
            if not data:
                break
            chunks.append(data)
        self.sock.close()
        raw = b"".join(chunks)
        head, _, body = raw.partition(b"\r\n\r\n")
        status_line = head.split(b"\r\n", 1)[0].decode()
        assert status_line.startswith("HTTP/1.1 "), raw[:200]
        return int(status_line.split()[1]), body


def connect_refused(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) != 0
