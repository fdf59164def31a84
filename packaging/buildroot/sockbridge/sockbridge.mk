################################################################################
#
# sockbridge: package/sockbridge/sockbridge.mk for Buildroot (meson-package)
#
################################################################################

SOCKBRIDGE_VERSION = 0.1.0
SOCKBRIDGE_SITE = $(call github,sockbridge,sockbridge,v$(SOCKBRIDGE_VERSION))
SOCKBRIDGE_LICENSE = MIT
SOCKBRIDGE_DEPENDENCIES = host-pkgconf yaml-cpp fmt cli11 json-for-modern-cpp
SOCKBRIDGE_CONF_OPTS = -Dtests=disabled -Dman=disabled

ifeq ($(BR2_PACKAGE_SYSTEMD),y)
SOCKBRIDGE_CONF_OPTS += -Dsystemd=enabled
SOCKBRIDGE_DEPENDENCIES += systemd
else
SOCKBRIDGE_CONF_OPTS += -Dsystemd=disabled
endif

ifeq ($(BR2_PACKAGE_SOCKBRIDGE_PCAP),y)
SOCKBRIDGE_CONF_OPTS += -Dpcap=enabled
SOCKBRIDGE_DEPENDENCIES += libpcap
else
SOCKBRIDGE_CONF_OPTS += -Dpcap=disabled
endif

ifeq ($(BR2_PACKAGE_SOCKBRIDGE_MQTT),y)
SOCKBRIDGE_CONF_OPTS += -Dmqtt=enabled
SOCKBRIDGE_DEPENDENCIES += mosquitto
else
SOCKBRIDGE_CONF_OPTS += -Dmqtt=disabled
endif

ifeq ($(BR2_PACKAGE_SOCKBRIDGE_TLS),y)
SOCKBRIDGE_CONF_OPTS += -Dtls=enabled
SOCKBRIDGE_DEPENDENCIES += openssl
else
SOCKBRIDGE_CONF_OPTS += -Dtls=disabled
endif

# A static-only toolchain builds one self-contained binary; otherwise the libraries may be linked in.
ifeq ($(BR2_STATIC_LIBS),y)
SOCKBRIDGE_CONF_OPTS += -Dstatic=full
else ifeq ($(BR2_PACKAGE_SOCKBRIDGE_STATIC_LIBRARIES),y)
SOCKBRIDGE_CONF_OPTS += -Dstatic=libraries
else
SOCKBRIDGE_CONF_OPTS += -Dstatic=none
endif

define SOCKBRIDGE_USERS
	sockbridge -1 sockbridge -1 * /var/lib/sockbridge - - sockbridge socket bridge
endef

define SOCKBRIDGE_INSTALL_INIT_SYSV
	$(INSTALL) -D -m 0755 $(@D)/packaging/sysvinit/sockbridge \
		$(TARGET_DIR)/etc/init.d/S60sockbridge
endef

$(eval $(meson-package))
