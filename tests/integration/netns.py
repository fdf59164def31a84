# SPDX-License-Identifier: MIT
# Network namespaces with veth links for the packet/raw integration tests, and the checks those
# tests make on what the daemon captured: pcap files read with libpcap (ctypes) and with a reader
# of the format written here, frames decoded (Ethernet, Linux SLL2, IPv4, IPv6, UDP, TCP, ICMP),
# and `tcpdump -r` / `tshark -r` run on them. Python 3 standard library only.
"""Namespace topologies for tests.

    with netns.Network() as net:             # root only (Skip otherwise)
        a, b = net.host("a"), net.host("b")
        link = net.link(a, b, v4=("192.0.2.1/24", "192.0.2.2/24"))
        net.up()                             # every link up, carrier seen on both ends
        s = a.socket(socket.AF_INET, socket.SOCK_DGRAM)   # a socket living in namespace a
        Daemon(cfg, tmp, wrapper=b.wrapper)  # sockbridged run inside namespace b

Namespaces are named ``sbp<pid>-<n>-<host>`` and deleted when the block ends, whether it raised
or not, together with their veths (and any process the test left in them is killed first).
Namespaces of this naming whose process is gone (a run killed with SIGKILL) are deleted when the
next Network starts. Addresses come from the documentation ranges only (192.0.2.0/24,
198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) and exist only inside the namespaces.

By default IPv6 is switched off in every namespace so that links stay quiet (no router or
neighbour solicitations, no MLD reports): captures then hold only what the test sent. Pass
``ipv6=True`` to keep it (addresses are added with ``nodad``).
"""

import contextlib
import ctypes
import ctypes.util
import ipaddress
import itertools
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time

import harness
from harness import Skip, TestFailure, check, check_equal

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_PREFIX = "sbp"
_counter = itertools.count(1)


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"setns: {os.strerror(e)}")


def _run(command, check_rc=True, timeout=30):
    try:
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TestFailure(f"{' '.join(command)} did not finish within {timeout}s")
    if check_rc and result.returncode != 0:
        raise TestFailure(f"{' '.join(command)} failed ({result.returncode}): "
                          f"{result.stdout.decode(errors='replace').strip()}")
    return result


def require_tools():
    harness.require_root("creates network namespaces and veth pairs")
    if shutil.which("ip") is None:
        raise Skip("needs the 'ip' command (iproute2)")


def _remove_stale_namespaces():
    """Deletes namespaces of our naming left by a test process that no longer exists."""
    result = _run(["ip", "netns", "list"], check_rc=False)
    for line in result.stdout.decode(errors="replace").splitlines():
        m = re.match(rf"^({_PREFIX}(\d+)-\d+-\S+)", line)
        if not m:
            continue
        pid = int(m.group(2))
        if pid == os.getpid() or _alive(pid):
            continue
        _kill_namespace_processes(m.group(1))
        _run(["ip", "netns", "del", m.group(1)], check_rc=False)


def _alive(pid):
    """Whether process `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _kill_namespace_processes(ns):
    result = _run(["ip", "netns", "pids", ns], check_rc=False)
    for word in result.stdout.decode(errors="replace").split():
        if word.isdigit() and int(word) != os.getpid():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(word), signal.SIGKILL)


class Host:
    """One network namespace."""

    def __init__(self, network, short):
        self.network = network
        self.short = short
        self.ns = f"{_PREFIX}{os.getpid()}-{network.serial}-{short}"
        self.interfaces = []   # Interface objects in this namespace

    def __repr__(self):
        return f"Host({self.short})"

    @property
    def wrapper(self):
        """Command prefix running a program inside this namespace (Daemon(wrapper=...))."""
        return ["ip", "netns", "exec", self.ns]

    def run(self, command, check_rc=True, timeout=30):
        return _run(self.wrapper + list(command), check_rc=check_rc, timeout=timeout)

    def ip(self, *args):
        return _run(["ip", "-n", self.ns] + list(args))

    def sysctl(self, key, value):
        self.run(["sysctl", "-q", "-w", f"{key}={value}"])

    @contextlib.contextmanager
    def entered(self):
        """This thread inside the namespace for the block (sockets made meanwhile live there)."""
        original = os.open("/proc/self/ns/net", os.O_RDONLY)
        try:
            target = os.open(f"/run/netns/{self.ns}", os.O_RDONLY)
            try:
                _setns(target)
            finally:
                os.close(target)
            try:
                yield self
            finally:
                _setns(original)
        finally:
            os.close(original)

    def socket(self, family=socket.AF_INET, kind=socket.SOCK_DGRAM, proto=0):
        with self.entered():
            return socket.socket(family, kind, proto)

    def interface(self, name):
        for i in self.interfaces:
            if i.name == name:
                return i
        raise KeyError(name)

    def read_sys(self, path):
        """A file under /sys/class/net as this namespace sees it."""
        return self.run(["cat", path]).stdout.decode().strip()


class Interface:
    """One end of a veth pair."""

    def __init__(self, host, name):
        self.host = host
        self.name = name
        self.v4 = None        # ipaddress.IPv4Interface
        self.v6 = None
        self.peer = None      # the Interface at the other end
        self.mac = None       # "aa:bb:..", read after creation
        self.ifindex = None

    def __repr__(self):
        return f"{self.host.short}:{self.name}"

    @property
    def ip4(self):
        return str(self.v4.ip)

    @property
    def ip6(self):
        return str(self.v6.ip)

    @property
    def mac_bytes(self):
        return bytes.fromhex(self.mac.replace(":", ""))

    def stat(self, name):
        """An interface counter (rx_packets, tx_packets, rx_dropped, ...) as an int."""
        return int(self.host.read_sys(f"/sys/class/net/{self.name}/statistics/{name}"))


class Network:
    """Hosts (namespaces) and veth links between them; everything is deleted on exit."""

    def __init__(self, ipv6=False):
        self.ipv6 = ipv6
        self.serial = next(_counter)
        self.hosts = []
        self.links = []

    def __enter__(self):
        require_tools()
        _remove_stale_namespaces()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False

    def close(self):
        for host in reversed(self.hosts):
            _kill_namespace_processes(host.ns)
            _run(["ip", "netns", "del", host.ns], check_rc=False)
        self.hosts = []

    def host(self, short):
        check(re.fullmatch(r"[a-z0-9]{1,4}", short) is not None, f"bad host name {short!r}")
        host = Host(self, short)
        result = _run(["ip", "netns", "add", host.ns], check_rc=False)
        if result.returncode != 0:
            raise Skip(f"cannot create a network namespace: {result.stdout.decode(errors='replace').strip()}")
        self.hosts.append(host)
        host.ip("link", "set", "lo", "up")
        if not self.ipv6:
            host.sysctl("net.ipv6.conf.all.disable_ipv6", 1)
            host.sysctl("net.ipv6.conf.default.disable_ipv6", 1)
        return host

    def link(self, a, b, v4=None, v6=None, names=None):
        """A veth pair a <-> b. `v4`/`v6`: (address/prefix on a's end, on b's end). Returns the
        (a end, b end) Interfaces, named `names` or "<a>-<b>" and "<b>-<a>"."""
        name_a, name_b = names or (f"{a.short}-{b.short}", f"{b.short}-{a.short}")
        _run(["ip", "link", "add", "name", name_a, "netns", a.ns, "type", "veth",
              "peer", "name", name_b, "netns", b.ns])
        end_a, end_b = Interface(a, name_a), Interface(b, name_b)
        end_a.peer, end_b.peer = end_b, end_a
        for end, host in ((end_a, a), (end_b, b)):
            host.interfaces.append(end)
            if not self.ipv6:
                host.sysctl(f"net.ipv6.conf.{end.name}.disable_ipv6", 1)
            out = host.ip("-o", "link", "show", "dev", end.name).stdout.decode()
            end.mac = re.search(r"link/ether ([0-9a-f:]{17})", out).group(1)
            end.ifindex = int(out.split(":", 1)[0])
        if v4:
            for end, address in zip((end_a, end_b), v4):
                end.v4 = ipaddress.ip_interface(address)
                end.host.ip("addr", "add", address, "dev", end.name)
        if v6:
            check(self.ipv6, "IPv6 addresses need Network(ipv6=True)")
            for end, address in zip((end_a, end_b), v6):
                end.v6 = ipaddress.ip_interface(address)
                end.host.ip("addr", "add", address, "dev", end.name, "nodad")
        self.links.append((end_a, end_b))
        return end_a, end_b

    def up(self, static_neighbours=True, timeout=10.0):
        """Every link up; waits (bounded) until each end has carrier and is operationally up, so a
        frame sent now is not dropped by a qdisc not yet activated. With static_neighbours each
        end knows its peer's MAC for the peer's addresses (no ARP/ND on the wire)."""
        for end_a, end_b in self.links:
            for end in (end_a, end_b):
                end.host.ip("link", "set", end.name, "up")
        for end_a, end_b in self.links:
            for end in (end_a, end_b):
                harness.wait_until(lambda e=end: "state UP" in e.host.ip("-o", "link", "show", "dev",
                                                                         e.name).stdout.decode(),
                                   timeout, what=f"{end} to be up")
            if static_neighbours:
                for end in (end_a, end_b):
                    for address in (end.peer.v4, end.peer.v6):
                        if address is not None:
                            self.neighbour(end, address.ip, end.peer.mac)

    @staticmethod
    def neighbour(interface, address, mac):
        """A permanent neighbour entry on `interface`: `address` is at `mac`."""
        interface.host.ip("neigh", "replace", str(address), "lladdr", mac, "dev", interface.name,
                          "nud", "permanent")


# ---------------------------------------------------------------------------------------------
# Traffic the tests send


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def icmp_echo(ident, seq, payload, request=True):
    """An ICMP echo request (or reply) message, checksummed."""
    header = struct.pack("!BBHHH", 8 if request else 0, 0, 0, ident, seq)
    csum = checksum(header + payload)
    return struct.pack("!BBHHH", 8 if request else 0, 0, csum, ident, seq) + payload


def ping(host, destination, ident, seq, payload, timeout=harness.IO_TIMEOUT):
    """Sends one ICMP echo request from `host` (a raw socket in its namespace) and waits for the
    matching reply; returns the reply's ICMP bytes."""
    with host.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
        s.sendto(icmp_echo(ident, seq, payload), (destination, 0))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure(f"no echo reply from {destination} (id {ident} seq {seq}) within {timeout}s")
            s.settimeout(left)
            try:
                packet, _ = s.recvfrom(65535)
            except socket.timeout:
                continue
            ihl = (packet[0] & 0x0F) * 4
            icmp = packet[ihl:]
            if len(icmp) >= 8 and icmp[0] == 0 and struct.unpack("!HH", icmp[4:8]) == (ident, seq):
                return icmp


def send_udp(host, destination, payloads, bind=None, no_check=False, family=socket.AF_INET):
    """Sends each payload as one datagram from a socket in `host` (bound to `bind`, an (ip, port),
    when given); returns the source (ip, port). no_check: SO_NO_CHECK, an IPv4 UDP checksum of
    0 (valid, and not left for an offload to fill in)."""
    with host.socket(family, socket.SOCK_DGRAM) as s:
        if no_check:
            s.setsockopt(socket.SOL_SOCKET, SO_NO_CHECK, 1)
        if bind is None:
            # The source address the route picks (a connected probe tells), so it can be returned.
            with host.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect(destination)
                bind = (probe.getsockname()[0], 0)
        s.bind(bind)
        for payload in payloads:
            s.sendto(payload, destination)
        return s.getsockname()[:2]


SO_NO_CHECK = 11


def tcp_exchange(client, server, server_ip, port, request, response, family=socket.AF_INET):
    """A whole TCP connection from `client` to a listening socket in `server`: the client sends
    `request`, the server reads it all and answers `response`, both close. Returns the client's
    (ip, port)."""
    with server.socket(family, socket.SOCK_STREAM) as listening:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((server_ip, port))
        listening.listen(1)
        with client.socket(family, socket.SOCK_STREAM) as c:
            c.settimeout(harness.IO_TIMEOUT)
            c.connect((server_ip, port))
            local = c.getsockname()[:2]
            conn = harness.accept(listening)
            with conn:
                c.sendall(request)
                c.shutdown(socket.SHUT_WR)
                got, _ = harness.recv_until_eof(conn)
                check_equal(got, request, "bytes the TCP server received")
                conn.sendall(response)
                conn.shutdown(socket.SHUT_WR)
                back, _ = harness.recv_until_eof(c)
                check_equal(back, response, "bytes the TCP client received")
    return local


# ---------------------------------------------------------------------------------------------
# The daemon's counters for packet/raw listeners

KERNEL_DROPS = "kernel_drops"      # the listener counter of PACKET_STATISTICS tp_drops


def captured(counters, name):
    """Messages a packet/raw listener took in (captured frames)."""
    return counters["listeners"][name]["messages_in"]


def kernel_drops(counters, name):
    listener = counters["listeners"][name]
    check(KERNEL_DROPS in listener, f"listener '{name}' counters have no '{KERNEL_DROPS}': {listener}")
    return listener[KERNEL_DROPS]


def pcap_capture_config(interface, pcap, port, options=""):
    """A daemon config: packet listener 'cap' on `interface` taking inbound UDP to `port` (plus
    `options`, listener lines indented by four spaces) into a pcap log at `pcap`, with a queue
    large enough that only the kernel can drop."""
    return f"""\
listeners:
  cap:
    type: packet
    interface: {interface}
    direction: in
    filter: "udp dst port {port}"
{options}routes:
  - from: cap
    log: {{path: {pcap}, format: pcap}}
    queue: {{max_messages: 100000, max_bytes: 64MiB}}
"""


# ---------------------------------------------------------------------------------------------
# pcap files

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276

MAGIC_MICRO = 0xA1B2C3D4
MAGIC_NANO = 0xA1B23C4D


class Packet:
    def __init__(self, ts_sec, ts_frac, caplen, length, data):
        self.ts_sec = ts_sec
        self.ts_frac = ts_frac   # nanoseconds in a nanosecond file
        self.caplen = caplen
        self.length = length
        self.data = data

    @property
    def ts_ns(self):
        return self.ts_sec * 1_000_000_000 + self.ts_frac

    def __repr__(self):
        return f"Packet(ts={self.ts_sec}.{self.ts_frac:09d}, caplen={self.caplen}, len={self.length})"


class PcapFile:
    def __init__(self, path, nanosecond, version, snaplen, linktype, packets):
        self.path = path
        self.nanosecond = nanosecond
        self.version = version
        self.snaplen = snaplen
        self.linktype = linktype
        self.packets = packets


def read_pcap(path):
    """Parses a classic pcap file as written (either byte order, micro or nano magic); fails on a
    truncated record."""
    with open(path, "rb") as f:
        data = f.read()
    check(len(data) >= 24, f"{path}: {len(data)} bytes, shorter than a pcap file header")
    for order in ("<", ">"):
        magic = struct.unpack(order + "I", data[:4])[0]
        if magic in (MAGIC_MICRO, MAGIC_NANO):
            break
    else:
        raise TestFailure(f"{path}: not a pcap file (magic {data[:4].hex()})")
    major, minor, _zone, _sigfigs, snaplen, linktype = struct.unpack(order + "HHiIII", data[4:24])
    packets = []
    offset = 24
    while offset < len(data):
        check(offset + 16 <= len(data), f"{path}: truncated record header at offset {offset}")
        sec, frac, caplen, length = struct.unpack(order + "IIII", data[offset:offset + 16])
        offset += 16
        check(offset + caplen <= len(data), f"{path}: record {len(packets)} claims {caplen} bytes, "
                                            f"{len(data) - offset} left")
        check(caplen <= length, f"{path}: record {len(packets)} caplen {caplen} > len {length}")
        if magic == MAGIC_NANO:
            check(frac < 1_000_000_000, f"{path}: record {len(packets)} nanoseconds {frac}")
        else:
            check(frac < 1_000_000, f"{path}: record {len(packets)} microseconds {frac}")
        packets.append(Packet(sec, frac, caplen, length, data[offset:offset + caplen]))
        offset += caplen
    return PcapFile(path, magic == MAGIC_NANO, (major, minor), snaplen, linktype & 0x0FFFFFFF, packets)


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _PktHdr(ctypes.Structure):
    _fields_ = [("ts", _Timeval), ("caplen", ctypes.c_uint32), ("len", ctypes.c_uint32)]


class _BpfProgram(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.c_void_p)]


_libpcap = None


def libpcap():
    """libpcap through ctypes, or Skip/TestFailure when it cannot be loaded."""
    global _libpcap
    if _libpcap is None:
        name = ctypes.util.find_library("pcap") or "libpcap.so.0.8"
        try:
            lib = ctypes.CDLL(name)
        except OSError as e:
            raise TestFailure(f"cannot load libpcap ({name}): {e}")
        lib.pcap_open_offline_with_tstamp_precision.restype = ctypes.c_void_p
        lib.pcap_open_offline_with_tstamp_precision.argtypes = [ctypes.c_char_p, ctypes.c_uint, ctypes.c_char_p]
        lib.pcap_next_ex.restype = ctypes.c_int
        lib.pcap_next_ex.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.POINTER(_PktHdr)),
                                     ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte))]
        lib.pcap_datalink.argtypes = [ctypes.c_void_p]
        lib.pcap_snapshot.argtypes = [ctypes.c_void_p]
        lib.pcap_get_tstamp_precision.argtypes = [ctypes.c_void_p]
        lib.pcap_geterr.restype = ctypes.c_char_p
        lib.pcap_geterr.argtypes = [ctypes.c_void_p]
        lib.pcap_close.argtypes = [ctypes.c_void_p]
        lib.pcap_compile.argtypes = [ctypes.c_void_p, ctypes.POINTER(_BpfProgram), ctypes.c_char_p,
                                     ctypes.c_int, ctypes.c_uint32]
        lib.pcap_offline_filter.argtypes = [ctypes.POINTER(_BpfProgram), ctypes.POINTER(_PktHdr),
                                            ctypes.POINTER(ctypes.c_ubyte)]
        lib.pcap_freecode.argtypes = [ctypes.POINTER(_BpfProgram)]
        _libpcap = lib
    return _libpcap


def read_pcap_libpcap(path, bpf_filter=None):
    """Reads `path` packet by packet with libpcap (pcap_open_offline_with_tstamp_precision nano,
    pcap_next_ex). Returns (linktype, snaplen, [Packet], [bool matches bpf_filter per packet])."""
    lib = libpcap()
    errbuf = ctypes.create_string_buffer(256)
    handle = lib.pcap_open_offline_with_tstamp_precision(path.encode(), 1, errbuf)  # 1: nano
    if not handle:
        raise TestFailure(f"libpcap cannot open {path}: {errbuf.value.decode(errors='replace')}")
    program = None
    try:
        linktype = lib.pcap_datalink(handle)
        snaplen = lib.pcap_snapshot(handle)
        if bpf_filter is not None:
            program = _BpfProgram()
            if lib.pcap_compile(handle, ctypes.byref(program), bpf_filter.encode(), 1, 0xFFFFFFFF) != 0:
                raise TestFailure(f"libpcap cannot compile {bpf_filter!r}: {lib.pcap_geterr(handle).decode()}")
        packets, matches = [], []
        header = ctypes.POINTER(_PktHdr)()
        data = ctypes.POINTER(ctypes.c_ubyte)()
        while True:
            rc = lib.pcap_next_ex(handle, ctypes.byref(header), ctypes.byref(data))
            if rc == -2:
                break
            if rc != 1:
                raise TestFailure(f"libpcap: reading {path} failed after {len(packets)} packets: "
                                  f"{lib.pcap_geterr(handle).decode(errors='replace')}")
            h = header.contents
            packets.append(Packet(h.ts.tv_sec, h.ts.tv_usec, h.caplen, h.len, ctypes.string_at(data, h.caplen)))
            if program is not None:
                matches.append(lib.pcap_offline_filter(ctypes.byref(program), header, data) != 0)
        return linktype, snaplen, packets, matches
    finally:
        if program is not None:
            lib.pcap_freecode(ctypes.byref(program))
        lib.pcap_close(handle)


def load_pcap(path, linktype=None, nanosecond=True):
    """Reads `path` both ways (the format parsed here and libpcap) and checks they agree; checks the
    link type and nanosecond magic. Returns the PcapFile."""
    mine = read_pcap(path)
    lt, snaplen, packets, _ = read_pcap_libpcap(path)
    # pcap_datalink() gives the DLT value: the same as the LINKTYPE but for raw IP (101 -> DLT_RAW, 12 on Linux).
    check_equal(lt, {LINKTYPE_RAW: 12}.get(mine.linktype, mine.linktype), f"{path}: libpcap's link type vs the header's")
    check_equal(snaplen, mine.snaplen, f"{path}: libpcap's snaplen vs the header's")
    check_equal(len(packets), len(mine.packets), f"{path}: packets read by libpcap vs parsed")
    for n, (p, q) in enumerate(zip(packets, mine.packets)):
        check_equal((p.ts_sec, p.ts_frac, p.caplen, p.length, p.data),
                    (q.ts_sec, q.ts_frac, q.caplen, q.length, q.data), f"{path}: packet {n} libpcap vs parsed")
    if nanosecond:
        check(mine.nanosecond, f"{path}: microsecond magic, expected the nanosecond one (a1b23c4d)")
    if linktype is not None:
        check_equal(mine.linktype, linktype, f"{path}: link type")
    return mine


def libpcap_matches(path, bpf_filter):
    """For each packet of `path`, whether libpcap's compiled `bpf_filter` matches it."""
    return read_pcap_libpcap(path, bpf_filter)[3]


# ---------------------------------------------------------------------------------------------
# Decoding frames

ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
ETH_P_ARP = 0x0806


class Decoded(dict):
    """Fields of one frame: eth_src, eth_dst, ethertype, sll_* (SLL2), ip_version, src, dst,
    proto, ttl, l4 (udp|tcp|icmp|icmpv6|other), sport, dport, flags, seq, icmp_type, icmp_id,
    icmp_seq, payload."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name)


def _mac(b):
    return ":".join(f"{x:02x}" for x in b)


def decode(linktype, data):
    d = Decoded()
    if linktype == LINKTYPE_ETHERNET:
        check(len(data) >= 14, f"Ethernet frame of {len(data)} bytes")
        d["eth_dst"], d["eth_src"] = _mac(data[0:6]), _mac(data[6:12])
        ethertype = struct.unpack("!H", data[12:14])[0]
        rest = data[14:]
        if ethertype == 0x8100:
            ethertype = struct.unpack("!H", rest[2:4])[0]
            rest = rest[4:]
        d["ethertype"] = ethertype
    elif linktype == LINKTYPE_LINUX_SLL2:
        check(len(data) >= 20, f"SLL2 frame of {len(data)} bytes")
        (ethertype, _reserved, ifindex, hatype, pkttype, halen) = struct.unpack("!HHIHBB", data[:12])
        d["ethertype"] = ethertype
        d["sll_ifindex"] = ifindex
        d["sll_hatype"] = hatype
        d["sll_pkttype"] = pkttype
        d["sll_addr"] = _mac(data[12:12 + min(halen, 8)])
        rest = data[20:]
    elif linktype == LINKTYPE_LINUX_SLL:
        check(len(data) >= 16, f"SLL frame of {len(data)} bytes")
        pkttype, hatype, halen = struct.unpack("!HHH", data[:6])
        d["sll_pkttype"], d["sll_hatype"] = pkttype, hatype
        d["sll_addr"] = _mac(data[6:6 + min(halen, 8)])
        d["ethertype"] = struct.unpack("!H", data[14:16])[0]
        rest = data[16:]
    elif linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
        rest = data
        d["ethertype"] = ETH_P_IPV6 if data and data[0] >> 4 == 6 else ETH_P_IP
    else:
        raise TestFailure(f"cannot decode link type {linktype}")
    if d["ethertype"] == ETH_P_IP:
        _decode_ipv4(d, rest)
    elif d["ethertype"] == ETH_P_IPV6:
        _decode_ipv6(d, rest)
    else:
        d["payload"] = rest
    return d


def _decode_ipv4(d, data):
    check(len(data) >= 20 and data[0] >> 4 == 4, f"not an IPv4 header: {data[:20].hex()}")
    ihl = (data[0] & 0x0F) * 4
    total = struct.unpack("!H", data[2:4])[0]
    d["ip_version"] = 4
    d["ttl"] = data[8]
    d["proto"] = data[9]
    d["src"] = socket.inet_ntop(socket.AF_INET, data[12:16])
    d["dst"] = socket.inet_ntop(socket.AF_INET, data[16:20])
    d["ip_total_length"] = total
    _decode_l4(d, data[ihl:total] if total <= len(data) else data[ihl:])


def _decode_ipv6(d, data):
    check(len(data) >= 40 and data[0] >> 4 == 6, f"not an IPv6 header: {data[:40].hex()}")
    plen = struct.unpack("!H", data[4:6])[0]
    d["ip_version"] = 6
    d["proto"] = data[6]
    d["ttl"] = data[7]
    d["src"] = socket.inet_ntop(socket.AF_INET6, data[8:24])
    d["dst"] = socket.inet_ntop(socket.AF_INET6, data[24:40])
    _decode_l4(d, data[40:40 + plen])


def _decode_l4(d, data):
    proto = d["proto"]
    if proto == 17 and len(data) >= 8:
        d["l4"] = "udp"
        d["sport"], d["dport"], length = struct.unpack("!HHH", data[:6])
        d["payload"] = data[8:length] if length >= 8 else data[8:]
    elif proto == 6 and len(data) >= 20:
        d["l4"] = "tcp"
        d["sport"], d["dport"], d["seq"], d["ack"] = struct.unpack("!HHII", data[:12])
        offset = (data[12] >> 4) * 4
        d["flags"] = data[13]
        d["payload"] = data[offset:]
    elif proto in (1, 58) and len(data) >= 8:
        d["l4"] = "icmp" if proto == 1 else "icmpv6"
        d["icmp_type"], d["icmp_code"] = data[0], data[1]
        d["icmp_id"], d["icmp_seq"] = struct.unpack("!HH", data[4:8])
        d["payload"] = data[8:]
    else:
        d["l4"] = "other"
        d["payload"] = data


TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10


# ---------------------------------------------------------------------------------------------
# tcpdump and tshark


def tcpdump_read(path, extra=(), expect_packets=None, host=None, all_lines=False):
    """`tcpdump -r path -nn -tttt --time-stamp-precision=nano` (plus `extra`): returns the packet lines. Fails when tcpdump is
    missing, exits non-zero, or reports a truncated/damaged file."""
    if shutil.which("tcpdump") is None:
        raise TestFailure("tcpdump is not installed (the packet tests read every pcap with it): "
                          "apt-get install tcpdump")
    prefix = host.wrapper if host is not None else []   # SLL2 interface names resolve there
    result = subprocess.run(prefix + ["tcpdump", "-r", path, "-nn", "-tttt", "--time-stamp-precision=nano"] + list(extra), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, timeout=60)
    err = result.stderr.decode(errors="replace")
    check(result.returncode == 0, f"tcpdump -r {path} exited {result.returncode}: {err.strip()}")
    for bad in ("truncated", "bogus", "damaged", "invalid"):
        check(bad not in err.lower(), f"tcpdump -r {path}: {err.strip()}")
    lines = [line for line in result.stdout.decode(errors="replace").splitlines() if line.strip()]
    if all_lines:
        return lines
    # With -v a packet may take two lines; packet lines start with the -tttt date.
    packet_lines = [line for line in lines if re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ ", line)]
    if expect_packets is not None:
        check_equal(len(packet_lines), expect_packets, f"packets tcpdump -r {path} printed; output:\n"
                    + "\n".join(lines[:40]))
    return packet_lines


def have_tshark():
    return shutil.which("tshark") is not None


def tshark_fields(path, fields, display_filter=None):
    """`tshark -r path -T fields -e F...`: a list of tuples, one per packet; None when tshark is
    not installed (optional)."""
    if not have_tshark():
        return None
    command = ["tshark", "-n", "-r", path, "-T", "fields", "-E", "separator=|"]
    for f in fields:
        command += ["-e", f]
    if display_filter:
        command += ["-Y", display_filter]
    env = dict(os.environ, HOME=os.environ.get("HOME", "/root"))
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120, env=env)
    err = result.stderr.decode(errors="replace")
    check(result.returncode == 0, f"tshark -r {path} exited {result.returncode}: {err.strip()}")
    check("appears to have been cut short" not in err and "damaged" not in err.lower(),
          f"tshark -r {path}: {err.strip()}")
    return [tuple(line.split("|")) for line in result.stdout.decode(errors="replace").splitlines()]
