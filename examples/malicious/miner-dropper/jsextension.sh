#!/bin/bash
# DEFANGED stand-in for XMRig: no hashing at all. It parses the pool from -o, opens a
# TCP connection to it and sends the Stratum JSON-RPC handshake a miner sends, then quits.
pool=pool.minexmr.example:443
wallet=x
while [ $# -gt 0 ]; do
  case "$1" in
    -o) pool=$2; shift ;;
    -u) wallet=$2; shift ;;
  esac
  shift
done
host=${pool%:*}
port=${pool##*:}
exec 3<>"/dev/tcp/$host/$port" || exit 0
printf '{"id":1,"jsonrpc":"2.0","method":"mining.subscribe","params":["XMRig/6.15.2"]}\n' >&3
printf '{"id":2,"jsonrpc":"2.0","method":"mining.authorize","params":["%s","x"]}\n' "$wallet" >&3
timeout 2 head -c 200 <&3 >/dev/null 2>&1
exec 3>&-
