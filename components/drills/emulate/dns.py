"""The emulated VPC's DNS resolver: A records of the private zone, answered on the VPC's base address + 2.

    with vpc_resolver("10.30.0.2", lambda: runner.records):   # {'head.rayfleet-dev-...internal': '10.30.0.4'}
        ...                                                    # nodes' /etc/resolv.conf: nameserver 10.30.0.2

AWS's resolver (AmazonProvidedDNS) sits at the VPC range's base plus two and answers the private
hosted zones associated with the VPC. Emulated nodes need a real DNS server, not only /etc/hosts:
gRPC's c-ares resolver, which Ray's raylet uses to reach the GCS by the head's name, asks the
name server and does not read /etc/hosts. A name the zone holds gets its A record (the record's
TTL); any other name NXDOMAIN (nothing outside the region resolves: nodes have no internet).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator

from components.ray_cluster.userdata import HEAD_RECORD_TTL

A, CLASS_IN = 1, 1
NXDOMAIN, FORMERR = 3, 1
#: The TTL of the answers: the head record's, short because a replaced head moves it.
TTL = HEAD_RECORD_TTL


def _question(query: bytes) -> tuple[str, int, int, int]:
    """(name, type, class, end offset) of a query's first question."""
    labels, offset = [], 12
    while query[offset]:
        length = query[offset]
        labels.append(query[offset + 1:offset + 1 + length].decode("ascii", "replace").lower())
        offset += 1 + length
    qtype, qclass = struct.unpack("!HH", query[offset + 1:offset + 5])
    return ".".join(labels), qtype, qclass, offset + 5


def answer(query: bytes, records: dict[str, str]) -> bytes:
    """The response to one DNS query (RFC 1035 wire format): the A record, NODATA for other types, or NXDOMAIN."""
    ident, flags = struct.unpack("!HH", query[:4])
    try:
        name, qtype, qclass, end = _question(query)
    except (IndexError, struct.error):
        return struct.pack("!HHHHHH", ident, 0x8000 | FORMERR, 0, 0, 0, 0)
    question = query[12:end]
    # QR, the query's opcode and RD, then AA and RA: the zone's own answer, from a resolver that recurses.
    base = 0x8000 | (flags & 0x7900) | 0x0400 | 0x0080
    address = records.get(name.rstrip("."))
    if address is None:
        return struct.pack("!HHHHHH", ident, base | NXDOMAIN, 1, 0, 0, 0) + question
    if qtype != A or qclass != CLASS_IN:
        return struct.pack("!HHHHHH", ident, base, 1, 0, 0, 0) + question
    record = struct.pack("!HHHIH", 0xC00C, A, CLASS_IN, TTL, 4) + socket.inet_aton(address)
    return struct.pack("!HHHHHH", ident, base, 1, 1, 0, 0) + question + record


@contextlib.contextmanager
def vpc_resolver(address: str, records: Callable[[], dict[str, str]], port: int = 53) -> Iterator[None]:
    """Answer DNS over UDP on `address`:`port` while the block runs, from `records()` at each query."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, port))
    sock.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                query, client = sock.recvfrom(512)
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            with contextlib.suppress(OSError):
                sock.sendto(answer(query, records()), client)

    thread = threading.Thread(target=serve, name="vpc-resolver", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=5)
        sock.close()
