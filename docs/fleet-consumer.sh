#!/bin/sh
# SPDX-License-Identifier: MIT
# Example fleet consumer: every CAN frame the gateways publish, one line each, from any broker.
#   docs/fleet-consumer.sh [BROKER_HOST] [PORT]  → "gw-17 can0 123 DEADBEEF"
# Gateways publish with `format: candump` and `topic: "fleet/{hostname}/{listener}/{can_id}"`.
# -c -i: a persistent session (QoS 1), so what arrives while this consumer is down is kept for it.
set -eu
host=${1:-127.0.0.1}
port=${2:-1883}
mosquitto_sub -h "$host" -p "$port" -q 1 -c -i "fleet-consumer-$(hostname)" -t 'fleet/+/+/+' -F '%t %p' |
while read -r topic stamp interface frame; do
    gateway=$(echo "$topic" | cut -d/ -f2)
    listener=$(echo "$topic" | cut -d/ -f3)
    id=${frame%%#*}
    data=${frame#*#}
    echo "$gateway $listener $id $data"
done
