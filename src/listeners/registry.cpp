// SPDX-License-Identifier: MIT
// The table of listener kinds: adding a kind is one file under listeners/ and one row here.
#include "build_config.h"
#include "config/config.h"
#if HAVE_PCAP
#include "listeners/packet_listener.h"
#include "listeners/raw_listener.h"
#endif
#include "listeners/can_bcm_listener.h"
#include "listeners/can_listener.h"
#if HAVE_MQTT
#include "listeners/mqtt_listener.h"
#endif
#include "listeners/tcp_listener.h"
#include "listeners/udp_listener.h"
#include "listeners/unix_listener.h"

namespace sockbridge {

namespace {
const ListenerKind kKinds[] = {
    {"tcp", "TCP: listen for clients or connect out with backoff", tcpListenerKeys(), &parseTcpListener},
    {"udp", "UDP: bind, a fixed peer or reply to the last sender; multicast and broadcast", udpListenerKeys(),
     &parseUdpListener},
    {"unix", "UNIX sockets: stream, dgram or seqpacket, on a path or an abstract @name", unixListenerKeys(),
     &parseUnixListener},
#if HAVE_PCAP
    {"packet", "AF_PACKET capture on an interface or all, BPF-filtered in the kernel; injection", packetListenerKeys(),
     &parsePacketListener},
    {"raw", "IP raw socket for one protocol (icmp, gre, ...): receive and send whole IP packets", rawListenerKeys(),
     &parseRawListener},
#endif
    {"can", "SocketCAN CAN_RAW: frames from and to one interface (or any); filters, error frames, CAN FD",
     canListenerKeys(), &parseCanListener},
    {"can-bcm", "SocketCAN CAN_BCM: cyclic transmit jobs, receive jobs (changes, throttle, timeouts), one-shot sends",
     canBcmListenerKeys(), &parseCanBcmListener},
#if HAVE_MQTT
    {"mqtt", "MQTT client (libmosquitto): publish to a broker with topic templates and an on-disk spool; subscribe",
     mqttListenerKeys(), &parseMqttListener},
#endif
};
}  // namespace

std::span<const ListenerKind> listenerKinds() { return kKinds; }

const ListenerKind *findListenerKind(std::string_view name)
{
    for (const auto &kind : kKinds)
        if (kind.name == name) return &kind;
    return nullptr;
}

}  // namespace sockbridge
