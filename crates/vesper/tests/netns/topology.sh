#!/usr/bin/env bash
# A multi-host test network on one Linux machine: one network namespace per host, each with a
# veth into a bridge that lives in its own "switch" namespace, and one veth from the caller's
# namespace into the same bridge (so the test process can reach the hosts' HTTP ports).
#
#   topology.sh up   TAG NET HOST...   e.g. topology.sh up 4711 10.77.3 gw w1 w2 bad
#   topology.sh down TAG HOST...
#   topology.sh cut  TAG HOST          take HOST's link down (the cable is pulled)
#   topology.sh mend TAG HOST          and back up
#
# Host N (1-based, in the order given) gets NET.N; the caller gets NET.254. Namespaces are
# named v<TAG><host>; links are short (interface names are at most 15 bytes). Needs root
# (CAP_NET_ADMIN) and iproute2.
set -euo pipefail

cmd=$1 tag=$2
shift 2
sw="vsw$tag"

case "$cmd" in
up)
    net=$1
    shift
    ip netns add "$sw"
    ip -n "$sw" link add br0 type bridge
    ip -n "$sw" link set br0 up
    i=0
    for host in "$@"; do
        i=$((i + 1))
        ns="v$tag$host"
        ip netns add "$ns"
        ip link add "h$tag$i" type veth peer name "s$tag$i"
        ip link set "h$tag$i" netns "$ns"
        ip link set "s$tag$i" netns "$sw"
        ip -n "$sw" link set "s$tag$i" master br0 up
        ip -n "$ns" link set lo up
        ip -n "$ns" link set "h$tag$i" name eth0
        ip -n "$ns" addr add "$net.$i/24" dev eth0
        ip -n "$ns" link set eth0 up
        # Multicast (mDNS) leaves through eth0.
        ip -n "$ns" route add 224.0.0.0/4 dev eth0
    done
    ip link add "r$tag" type veth peer name "sr$tag"
    ip link set "sr$tag" netns "$sw"
    ip -n "$sw" link set "sr$tag" master br0 up
    ip addr add "$net.254/24" dev "r$tag"
    ip link set "r$tag" up
    ;;
down)
    for host in "$@"; do
        ip netns del "v$tag$host" 2>/dev/null || true
    done
    ip link del "r$tag" 2>/dev/null || true
    ip netns del "$sw" 2>/dev/null || true
    ;;
cut | mend)
    host=$1
    state=$([ "$cmd" = cut ] && echo down || echo up)
    ip -n "v$tag$host" link set eth0 "$state"
    ;;
*)
    echo "usage: $0 up|down|cut|mend TAG ..." >&2
    exit 2
    ;;
esac
