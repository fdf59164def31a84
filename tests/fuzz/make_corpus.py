#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/): real examples of each
# wire format, built as the protocol documents describe them. Run from anywhere; rewrites the seeds.
import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def write(target, name, data):
    folder = os.path.join(HERE, 'corpus', target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), 'wb') as f:
        f.write(data.encode() if isinstance(data, str) else data)


# cannelloni doc/udp_format.md: one frame is u32 can_id (big-endian, with the EFF/RTR/ERR flags),
# u8 len (0x80 set for CAN FD, then u8 flags), the data (none for RTR).
def cannelloni_frame(can_id, data=b'', fd_flags=None, rtr=False):
    if fd_flags is not None:
        return struct.pack('>IBB', can_id, len(data) | 0x80, fd_flags) + data
    if rtr:
        return struct.pack('>IB', can_id | 0x40000000, len(data))
    return struct.pack('>IB', can_id, len(data)) + data


# A v2 DATA packet: version 2, op code 0, seq_no, u16 frame count.
def cannelloni_packet(seq, frames):
    return struct.pack('>BBBH', 2, 0, seq, len(frames)) + b''.join(frames)


def cannelloni():
    write('fuzz_cannelloni', 'one_classic', cannelloni_packet(0, [cannelloni_frame(0x123, b'\xde\xad\xbe\xef')]))
    write('fuzz_cannelloni', 'mixed', cannelloni_packet(7, [
        cannelloni_frame(0x80000000 | 0x1abcdef, bytes(range(8))),
        cannelloni_frame(0x7ff, b'', rtr=True),
        cannelloni_frame(0x321, bytes(range(64)), fd_flags=0x01),
        cannelloni_frame(0x20000004, bytes(8)),
    ]))
    write('fuzz_cannelloni', 'empty_packet', cannelloni_packet(255, []))
    write('fuzz_cannelloni', 'fd_12', cannelloni_packet(3, [cannelloni_frame(0x10, bytes(12), fd_flags=0x03)]))
    write('fuzz_cannelloni', 'count_too_high', struct.pack('>BBBH', 2, 0, 1, 3) + cannelloni_frame(0x1, b'\x01'))
    write('fuzz_cannelloni', 'ack_op', struct.pack('>BBBH', 2, 1, 1, 0))
    stream = b'CANNELLONIv1' + cannelloni_frame(0x123, b'\x11\x22') + cannelloni_frame(0x80012345, bytes(8)) \
        + cannelloni_frame(0x456, bytes(range(48)), fd_flags=0x02) + cannelloni_frame(0x7, b'', rtr=True)
    write('fuzz_cannelloni_tcp', 'handshake_and_frames', stream)
    write('fuzz_cannelloni_tcp', 'handshake_only', b'CANNELLONIv1')
    write('fuzz_cannelloni_tcp', 'cut_in_frame', stream[:-3])


# can-utils' candump -L / log format and canplayer's input: "(SEC.USEC) IFACE ID#DATA".
def candump():
    lines = {
        'classic': '(1700000000.123456) vcan0 123#DEADBEEF\n',
        'extended': '(1700000000.000001) can0 1F334455#1122334455667788\n',
        'rtr': '(1700000000.500000) vcan0 123#R\n(1700000000.500001) vcan0 123#R5\n',
        'fd': '(1700000001.000000) vcan0 321##1' + '00112233445566778899AABBCCDDEEFF' * 2 + '\n',
        'error_frame': '(1700000002.000000) vcan0 20000004#0000000000000000\n',
        'comment_and_crlf': '# canplayer skips this\r\n(1700000003.000000) vcan0 7FF#00\r\n',
        'dotted_data': '(1700000004.000000) vcan0 123#DE.AD.BE.EF\n',
        'no_timestamp': 'vcan0 0AB#0102\n',
    }
    for name, text in lines.items():
        write('fuzz_candump', name, text)


# socketcand's doc/protocol.md: "< open BUS >", "< rawmode >", "< send ID LEN B0 .. >", ...
def socketcand():
    sessions = {
        'raw_send': '< open vcan0 >< rawmode >< send 123 2 de ad >',
        'extended_send': '< open vcan0 >< send 1F334455 8 11 22 33 44 55 66 77 88 >',
        'fd_send': '< open can1 >< rawmode >< fdsend 12345678 1 12 00 11 22 33 44 55 66 77 88 99 AA BB >',
        'rtr': '< open vcan0 >< sendrtr 7FF 4 >',
        'control': '< open vcan0 >< controlmode >< statistics 1000 >< echo >',
        'errors': '< send 123 1 00 >< open nosuchbus >< open vcan0 >< open vcan0 >< bcmmode >< frobnicate >',
        'stray_and_split': 'garbage< echo\r\n>\t< open vcan0 ><rawmode>',
        'overlong': '< send ' + '0 ' * 700 + '>< echo >',
    }
    for name, text in sessions.items():
        write('fuzz_socketcand', name, text)
        write('fuzz_socketcand', name + '_fd', b'\x80' + text.encode())


def framing():
    write('fuzz_lines', 'lf', 'hello\nworld\n')
    write('fuzz_lines', 'crlf_and_empty', 'a\r\n\r\n\nlast without newline')
    write('fuzz_lines', 'binary', b'\x00\xff\r\x01\n\x7f\x80\n')
    write('fuzz_lines', 'long', 'x' * 600 + '\n')
    def frame(payload):
        return struct.pack('>I', len(payload)) + payload
    write('fuzz_length_prefixed', 'two', frame(b'hello') + frame(b''))
    write('fuzz_length_prefixed', 'binary', frame(bytes(range(256))))
    write('fuzz_length_prefixed', 'oversize', struct.pack('>I', 1 << 20) + b'abc')
    write('fuzz_length_prefixed', 'cut', frame(b'abcdef')[:-2])


# Lines as docs/formats.md shows the jsonl output (which the decoder reads back).
def jsonl():
    write('fuzz_jsonl', 'text_and_base64',
          '{"ts":"2026-11-18T11:06:40.123456789Z","ts_ns":1795000000123456789,"source":"tcp-in",'
          '"peer":"127.0.0.1:5000","kind":"bytes","len":2,"text":"hi"}\n'
          '{"ts":"2026-11-18T11:06:40.123456789Z","ts_ns":1795000000123456789,"source":"tcp-in",'
          '"peer":"127.0.0.1:5000","kind":"bytes","len":3,"base64":"AQD/"}\n')
    write('fuzz_jsonl', 'hex', '{"hex":"deadbeef"}\n{"text":"caf\\u00e9 \\t"}\n')
    write('fuzz_jsonl', 'bad', '{"text":"a","base64":"YQ=="}\n{"base64":"YQ="}\n[1,2]\n')
    write('fuzz_jsonl', 'nested', '{"text":"x","meta":{"a":[1,2,{"b":null}]}}\r\n')


def ethernet(ethertype, payload, dst=b'\xff' * 6, src=b'\x02\x00\x00\x00\x00\x01'):
    return dst + src + struct.pack('>H', ethertype) + payload


def ipv4(proto, payload, src=b'\x7f\x00\x00\x01', dst=b'\x7f\x00\x00\x02'):
    return struct.pack('>BBHHHBBH', 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0) + src + dst + payload


def packets():
    udp = struct.pack('>HHHH', 5000, 6000, 12, 0) + b'ping'
    tcp = struct.pack('>HHIIBBHHH', 40000, 80, 1, 0, 0x50, 0x02, 65535, 0, 0)
    icmp = struct.pack('>BBHHH', 8, 0, 0, 1, 1) + b'abcd'
    arp = struct.pack('>HHBBH', 1, 0x0800, 6, 4, 1) + b'\x02' * 6 + b'\x0a\x00\x00\x01' + b'\x00' * 6 + b'\x0a\x00\x00\x02'
    ipv6 = struct.pack('>IHBB', 0x60000000, len(udp), 17, 64) + b'\x00' * 15 + b'\x01' + b'\x00' * 15 + b'\x02' + udp
    vlan = struct.pack('>HH', 100, 0x0800) + ipv4(17, udp)
    # Link-type selector byte (target % 4): 0 Ethernet, 1 raw IP, 2 Linux SLL2.
    write('fuzz_packet_summary', 'eth_udp', b'\x00' + ethernet(0x0800, ipv4(17, udp)))
    write('fuzz_packet_summary', 'eth_tcp_syn', b'\x00' + ethernet(0x0800, ipv4(6, tcp)))
    write('fuzz_packet_summary', 'eth_icmp', b'\x00' + ethernet(0x0800, ipv4(1, icmp)))
    write('fuzz_packet_summary', 'eth_arp', b'\x00' + ethernet(0x0806, arp))
    write('fuzz_packet_summary', 'eth_ipv6_udp', b'\x00' + ethernet(0x86dd, ipv6))
    write('fuzz_packet_summary', 'eth_vlan', b'\x00' + ethernet(0x8100, vlan))
    write('fuzz_packet_summary', 'raw_ipv4', b'\x01' + ipv4(17, udp))
    write('fuzz_packet_summary', 'raw_truncated', b'\x01' + ipv4(6, tcp)[:30])
    sll2 = struct.pack('>HHIHBB', 0x0800, 0, 2, 1, 0, 6) + b'\x02\x00\x00\x00\x00\x01\x00\x00'
    write('fuzz_packet_summary', 'sll2_udp', b'\x02' + sll2 + ipv4(17, udp))


def config():
    for name in sorted(os.listdir(os.path.join(ROOT, 'config'))):
        if name.endswith('.yaml'):
            shutil.copy(os.path.join(ROOT, 'config', name), os.path.join(HERE, 'corpus', 'fuzz_config', name))
    write('fuzz_config', 'errors.yaml',
          'listeners:\n  in: {kind: tcp, listen: "127.0.0.1:99999", fromat: lines}\n'
          '  out: {kind: udp, connect: "[::1]:5000"}\nroutes:\n  - {from: in, to: [out, nowhere], queue: -1}\n')
    write('fuzz_config', 'not_yaml.yaml', 'listeners: [\n  {kind: tcp\n')


if __name__ == '__main__':
    os.makedirs(os.path.join(HERE, 'corpus', 'fuzz_config'), exist_ok=True)
    for make in (cannelloni, candump, socketcand, framing, jsonl, packets, config):
        make()
    sys.exit(0)
