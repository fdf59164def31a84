# SPDX-License-Identifier: MIT
# sockbridge: OpenEmbedded/Yocto recipe (meson, systemd or SysV init, one PACKAGECONFIG per meson
# feature option). Put it in a layer's recipes-connectivity/sockbridge/.
SUMMARY = "Bridge, convert and log socket and SocketCAN traffic"
DESCRIPTION = "sockbridged reads a YAML file of listeners (TCP, UDP, UNIX, SocketCAN, AF_PACKET, \
raw IP) and routes between them: it bridges, converts and logs their traffic."
HOMEPAGE = "https://github.com/sockbridge/sockbridge"
SECTION = "net"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://src/daemon/main.cpp;beginline=1;endline=1;md5=6ec41034e04432ee375d0e14fba596f4"

SRC_URI = "git://github.com/sockbridge/sockbridge.git;protocol=https;branch=main"
SRCREV = "${AUTOREV}"
PV = "0.1.0+git${SRCPV}"
S = "${WORKDIR}/git"

inherit meson pkgconfig systemd update-rc.d useradd

DEPENDS = "yaml-cpp fmt cli11 nlohmann-json"

# The service manager follows the distro; the rest is on unless an image turns it off
# (PACKAGECONFIG:remove:pn-sockbridge = "mqtt tls").
PACKAGECONFIG ??= "${@bb.utils.filter('DISTRO_FEATURES', 'systemd', d)} pcap mqtt tls"
PACKAGECONFIG[systemd] = "-Dsystemd=enabled,-Dsystemd=disabled,systemd"
PACKAGECONFIG[pcap] = "-Dpcap=enabled,-Dpcap=disabled,libpcap"
PACKAGECONFIG[mqtt] = "-Dmqtt=enabled,-Dmqtt=disabled,mosquitto"
PACKAGECONFIG[tls] = "-Dtls=enabled,-Dtls=disabled,openssl"
PACKAGECONFIG[man] = "-Dman=enabled,-Dman=disabled,scdoc-native lowdown-native"
PACKAGECONFIG[tests] = "-Dtests=enabled,-Dtests=disabled,googletest"
# What is linked into sockbridged (docs/packaging.md, "Small images"): "libraries" takes yaml-cpp,
# fmt, libstdc++ and libgcc in; "full" makes one static binary, the least idle memory (needs the
# -staticdev packages, and systemd out of PACKAGECONFIG). In local.conf: SOCKBRIDGE_STATIC = "full"
SOCKBRIDGE_STATIC ??= "none"
EXTRA_OEMESON += "-Dstatic=${SOCKBRIDGE_STATIC}"

SYSTEMD_SERVICE:${PN} = "sockbridge.service"
SYSTEMD_AUTO_ENABLE = "enable"

INITSCRIPT_NAME = "sockbridge"
INITSCRIPT_PARAMS = "defaults 60"

USERADD_PACKAGES = "${PN}"
USERADD_PARAM:${PN} = "--system --home-dir /var/lib/sockbridge --no-create-home --shell /sbin/nologin --user-group sockbridge"

do_install:append() {
    if ${@bb.utils.contains('DISTRO_FEATURES', 'sysvinit', 'true', 'false', d)}; then
        install -D -m 0755 ${S}/packaging/sysvinit/sockbridge ${D}${sysconfdir}/init.d/sockbridge
    fi
}

FILES:${PN} += "${systemd_system_unitdir} ${nonarch_libdir}/sysusers.d ${nonarch_libdir}/tmpfiles.d"
CONFFILES:${PN} = "${sysconfdir}/sockbridge/sockbridge.yaml"
