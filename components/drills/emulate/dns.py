"""The emulated VPC's DNS resolver: A records of the private zone, answered on the VPC's base address + 2.

    with vpc_resolver("10.30.0.2", lambda: runner.records):   # {'head.rayfleet-dev-...internal': '10.30.0.4'}
        ...                                                    # nodes' /etc/resolv.conf: nameserver 10.30.0.2

AWS's resolver (AmazonProvidedDNS) sits at the VPC range's base plus two and answers the private
hosted zones associated with the VPC. Emulated nodes need a real DNS server, not only /etc/hosts:
gRPC's c-ares resolver, which Ray's raylet uses to reach the GCS by the head's name, asks the
name server and does not read /etc/hosts. A name the zone holds gets its A record (the record's
TTL); any other name NXDOMAIN (nothing outside the region resolves: nodes have no internet), with
the zone's SOA (as moto holds it) when the name is in it, so that a caching resolver keeps the
negative answer as long as it would on AWS. The nodes have no caching resolver here (systemd-resolved does not run), so
the boot's "cache no negative DNS answers" step is not exercised: a listed known gap.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import threading
from collections.abc import Callable, Iterable, Iterator

from components.ray_cluster.userdata import HEAD_RECORD_TTL

A, SOA, CLASS_IN = 1, 6, 1
NXDOMAIN, FORMERR, SERVFAIL = 3, 1, 2
#: The TTL of the answers: the head record's, short because a replaced head moves it.
TTL = HEAD_RECORD_TTL
#: The SOA Route 53 writes with a hosted zone, TTL 900 s (Route 53 Developer Guide, "NS and SOA records that
#: Route 53 creates"); a zone whose SOA moto does not list is answered with it. The project overwrites it
#: (components/ray_cluster/plan.py, private_zone_soa), and the zone's own SOA, as moto holds it, is answered.
DEFAULT_SOA = ("ns-1536.awsdns-00.co.uk. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400", 900)


_SOA_VALUE = re.compile(r"([A-Za-z0-9.-]+) ([A-Za-z0-9.-]+) (\d+) (\d+) (\d+) (\d+) (\d+)")


def zone_soa(value: str, ttl: int) -> tuple[str, int]:
    """A zone's SOA (value, TTL) from its record as moto lists it: moto wraps the default one it writes with a
    new zone in the repr of a dict (`{'Value': 'ns-2048... 86400'}`), so the SOA's seven fields are searched for;
    DEFAULT_SOA where there are none, so that a negative answer is never left without its SOA."""
    found = _SOA_VALUE.search(value)
    return (" ".join(found.groups()), ttl) if found else DEFAULT_SOA


def negative_ttl(soa: tuple[str, int]) -> int:
    """How long a resolver caches a negative answer carrying `soa` (value, TTL): the lesser of the record's TTL
    and its last field, the minimum (RFC 2308 section 5)."""
    value, ttl = soa
    return min(ttl, int(value.split()[-1]))


def _name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.strip(".").split(".") if p) + b"\0"


def soa_record(zone: str, soa: tuple[str, int]) -> bytes:
    """The zone's SOA as an authority record (RFC 1035 3.3.13), which a negative answer carries (RFC 2308 3)."""
    value, ttl = soa
    mname, rname, *times = value.split()
    rdata = _name(mname) + _name(rname) + struct.pack("!IIIII", *(int(t) for t in times))
    return _name(zone) + struct.pack("!HHIH", SOA, CLASS_IN, ttl, len(rdata)) + rdata


def zone_of(name: str, zones: Iterable[str]) -> str | None:
    """The private zone that holds `name` (the longest one), None for a name outside them."""
    held = [z.strip(".") for z in zones if name == z.strip(".") or name.endswith("." + z.strip("."))]
    return max(held, key=len, default=None)


def _question(query: bytes) -> tuple[str, int, int, int]:
    """(name, type, class, end offset) of a query's first question."""
    labels, offset = [], 12
    while query[offset]:
        length = query[offset]
        labels.append(query[offset + 1:offset + 1 + length].decode("ascii", "replace").lower())
        offset += 1 + length
    qtype, qclass = struct.unpack("!HH", query[offset + 1:offset + 5])
    return ".".join(labels), qtype, qclass, offset + 5


def answer(query: bytes, records: dict[str, str], zones: dict[str, tuple[str, int]] | None = None) -> bytes:
    """The response to one DNS query (RFC 1035 wire format): the A record, NODATA for other types, or NXDOMAIN;
    a negative answer for a name in one of `zones` (name -> its SOA's value and TTL) carries that SOA, as
    Route 53's do, so that a caching resolver keeps it as long as on AWS."""
    zones = zones or {}
    ident, flags = struct.unpack("!HH", query[:4])
    try:
        name, qtype, qclass, end = _question(query)
    except (IndexError, struct.error):
        return struct.pack("!HHHHHH", ident, 0x8000 | FORMERR, 0, 0, 0, 0)
    question = query[12:end]
    # QR, the query's opcode and RD, then AA and RA: the zone's own answer, from a resolver that recurses.
    base = 0x8000 | (flags & 0x7900) | 0x0400 | 0x0080
    address = records.get(name.rstrip("."))
    if address is None or qtype != A or qclass != CLASS_IN:
        zone = zone_of(name.rstrip("."), zones)
        authority = soa_record(zone, zones[zone]) if zone else b""
        rcode = NXDOMAIN if address is None else 0
        return struct.pack("!HHHHHH", ident, base | rcode, 1, 0, 1 if zone else 0, 0) + question + authority
    record = struct.pack("!HHHIH", 0xC00C, A, CLASS_IN, TTL, 4) + socket.inet_aton(address)
    return struct.pack("!HHHHHH", ident, base, 1, 1, 0, 0) + question + record


@contextlib.contextmanager
def vpc_resolver(address: str, records: Callable[[], dict[str, str]], port: int = 53,
                 zones: Callable[[], dict[str, tuple[str, int]]] = dict) -> Iterator[None]:
    """Answer DNS over UDP on `address`:`port` while the block runs, from `records()` and `zones()` at each query."""
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
            try:
                response = answer(query, records(), zones())
            except Exception:  # one query the resolver cannot answer must not stop it answering the others
                response = query[:2] + struct.pack("!HHHHH", 0x8000 | SERVFAIL, 0, 0, 0, 0)
            with contextlib.suppress(OSError):
                sock.sendto(response, client)

    thread = threading.Thread(target=serve, name="vpc-resolver", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=5)
        sock.close()
