#!/bin/bash
# DEFANGED stand-in for a miner: no hashing, no mining protocol. It only opens a TCP
# connection to the pool given with -o (answered by airlock's sink) and closes it.
pool=pool.minexmr.example:3333
while [ $# -gt 0 ]; do
  case "$1" in
    -o) pool=$2; shift ;;
  esac
  shift
done
exec 3<>"/dev/tcp/${pool%:*}/${pool##*:}" || exit 0
exec 3>&-
