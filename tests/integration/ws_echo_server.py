"""A WebSocket echo server in the standard library only (to run inside an agent container)."""

import base64
import hashlib
import socket
import struct
import sys
import threading

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def read_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError
        data += chunk
    return data


def serve(conn: socket.socket) -> None:
    request = b""
    while b"\r\n\r\n" not in request:
        request += conn.recv(4096)
    headers = dict(line.split(": ", 1) for line in request.decode().split("\r\n")[1:] if ": " in line)
    key = {k.lower(): v for k, v in headers.items()}["sec-websocket-key"]
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    conn.sendall(
        f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
    )
    while True:
        first, second = read_exactly(conn, 2)
        opcode, length = first & 0x0F, second & 0x7F
        if length == 126:
            length = struct.unpack(">H", read_exactly(conn, 2))[0]
        elif length == 127:
            length = struct.unpack(">Q", read_exactly(conn, 8))[0]
        mask = read_exactly(conn, 4)
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(read_exactly(conn, length)))
        if opcode == 8:
            conn.sendall(b"\x88\x00")
            return
        header = bytes([0x80 | opcode])
        if len(payload) < 126:
            header += bytes([len(payload)])
        else:
            header += bytes([126]) + struct.pack(">H", len(payload))
        conn.sendall(header + payload)


def main() -> None:
    listener = socket.create_server(("0.0.0.0", int(sys.argv[1])))
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=lambda c=conn: (serve(c), c.close()), daemon=True).start()


if __name__ == "__main__":
    main()
