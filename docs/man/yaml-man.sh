#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds sockbridge.yaml(5) from config/README.md, the one config reference, framed by a NAME/SEE ALSO header and tail.
# Usage: yaml-man.sh LOWDOWN HEAD.md README.md TAIL.md  (the page on stdout)
set -eu
lowdown=$1 head=$2 readme=$3 tail=$4
cat "$head" "$readme" "$tail" | "$lowdown" -s -Tman
