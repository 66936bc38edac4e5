#!/usr/bin/env bash
# Benchmarks of airlock's install wrapper and registry proxy (issue 7, "Performance").
#
#   1. `airlock npm install` with every verdict cached vs plain `npm install`, both from
#      the same warm npm cache, on a 250-package project (express, eslint, yargs, glob,
#      jsdom): median of paired runs (order alternated), each in a fresh copy of the
#      project with its lockfile and no node_modules. (The overrides keep out
#      math-intrinsics and dunder-proto, whose `"main": false` airlock-registry's
#      manifest reader rejects at the time of writing.)
#   2. The proxy's added latency on a cached packument: `GET /<name>` through
#      `airlock serve --npm-upstream` vs straight from the upstream, medians over many
#      requests (curl's own timing, so process start-up is not counted).
#
# The public registry is used once, only to fetch the package set into a local mirror
# (benches/npm-mirror.mjs); every measured run talks to that mirror on loopback. The
# first run also fills the verdict store by analyzing every package in the sandbox
# (minutes; its duration is reported as the cold figure).
#
# Usage: benches/npm-wrapper.sh [PAIRS]   (env: WORK, PORT, AIRLOCK)
set -euo pipefail

PAIRS=${1:-9}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
WORK=${WORK:-/tmp/airlock-bench-npm}
PORT=${PORT:-48731}
AIRLOCK=${AIRLOCK:-$REPO/target/release/airlock}
REG="http://127.0.0.1:$PORT"
mkdir -p "$WORK"

if [ ! -x "$AIRLOCK" ]; then
  (cd "$REPO" && cargo build --release -p airlock)
fi

# Isolated npm configuration: the mirror is the only registry.
export npm_config_userconfig="$WORK/npmrc"
export npm_config_cache="$WORK/npm-cache"
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
printf 'registry=%s/\n' "$REG" > "$WORK/npmrc"

# 1. The package set, fetched once from the public registry into the mirror.
if [ ! -d "$WORK/mirror/packuments" ]; then
  mkdir -p "$WORK/resolve"
  cat > "$WORK/resolve/package.json" <<'EOF'
{ "name": "bench-app", "version": "1.0.0", "private": true,
  "dependencies": { "express": "4.21.2", "eslint": "8.57.1", "yargs": "17.7.2",
                    "glob": "10.4.5", "jsdom": "25.0.1" },
  "overrides": { "get-intrinsic": "1.2.4", "has-proto": "1.0.3" } }
EOF
  (cd "$WORK/resolve" && npm install --package-lock-only --ignore-scripts \
     --omit-lockfile-registry-resolved=false \
     --registry https://registry.npmjs.org/ --cache "$WORK/resolve-cache" >/dev/null)
  node "$HERE/npm-mirror.mjs" fetch "$WORK/resolve/package-lock.json" "$WORK/mirror"
fi

# `through`: a package analyzed on its own may resolve versions outside the project's
# tree; those are fetched once (public registry, fetch only) and kept.
node "$HERE/npm-mirror.mjs" serve "$WORK/mirror" "$PORT" through &
MIRROR=$!
SERVE=
cleanup() { kill "$MIRROR" 2>/dev/null || true; [ -n "$SERVE" ] && kill "$SERVE" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 50); do curl -sf "$REG/express" >/dev/null && break; sleep 0.1; done

# The project template: package.json and a lockfile resolved against the mirror.
TPL="$WORK/template"
if [ ! -f "$TPL/package-lock.json" ]; then
  mkdir -p "$TPL"
  cp "$WORK/resolve/package.json" "$TPL/"
  (cd "$TPL" && npm install --package-lock-only --ignore-scripts \
     --omit-lockfile-registry-resolved=false >/dev/null)
fi
COUNT=$(node -e 'const l=require(process.argv[1]);console.log(Object.keys(l.packages).filter(Boolean).length)' "$TPL/package-lock.json")
echo "project: $COUNT packages"

fresh() { rm -rf "$1"; mkdir -p "$1"; cp "$TPL/package.json" "$TPL/package-lock.json" "$1/"; }
now() { date +%s.%N; }

# Warm npm's cache (both sides use it).
fresh "$WORK/warm" && (cd "$WORK/warm" && npm install --ignore-scripts >/dev/null)

STORE="$WORK/store.sqlite3"
# A frozen copy of the rules: the checkout's rules/ may change between runs, and every
# change makes the first wrapper run re-judge all cached traces (measured below).
RULES="$WORK/rules"
[ -d "$RULES" ] || cp -r "$REPO/rules" "$RULES"
AL=("$AIRLOCK" npm --store "$STORE" --rules "$RULES" --allow-suspicious)
if [ ! -f "$WORK/store.filled" ]; then
  fresh "$WORK/cold"
  t0=$(now)
  (cd "$WORK/cold" && "${AL[@]}" install >/dev/null 2>"$WORK/cold.log") \
    || { echo "cold run failed:"; tail -30 "$WORK/cold.log"; exit 1; }
  t1=$(now)
  echo "cold (every package analyzed in the sandbox, concurrency $(nproc)): $(echo "$t1 - $t0" | bc) s" | tee "$WORK/cold.txt"
  grep -E "package\(s\):" "$WORK/cold.log" | tee -a "$WORK/cold.txt"
  touch "$WORK/store.filled"
fi

# Untimed warm-up; if the store's verdicts were made by another ruleset, this run
# re-judges them all (no sandbox) and says how long that takes.
fresh "$WORK/warmup"
t0=$(now)
(cd "$WORK/warmup" && "${AL[@]}" --offline --real true install >/dev/null 2>&1)
echo "first run under this ruleset (re-judges stale cached verdicts if any): $(echo "$(now) - $t0" | bc) s"

# airlock's own time: the same cached run with the real npm replaced by `true`.
: > "$WORK/own.txt"
for _ in $(seq 15); do
  fresh "$WORK/own"
  t0=$(now)
  (cd "$WORK/own" && "${AL[@]}" --offline --real true install >/dev/null 2>&1)
  echo "$(now) - $t0" | bc >> "$WORK/own.txt"
done
python3 -c 'import statistics,sys; v=[float(x) for x in open(sys.argv[1])]; print(f"airlock own time per cached install (lockfile read, audit, {sys.argv[2]} lookups, decision; npm not run): median {statistics.median(v)*1000:.0f} ms (n={len(v)})")' "$WORK/own.txt" "$COUNT"

# 2. Paired runs, order alternated.
: > "$WORK/pairs.tsv"
for i in $(seq "$PAIRS"); do
  for side in $( [ $((i % 2)) -eq 0 ] && echo "plain airlock" || echo "airlock plain" ); do
    fresh "$WORK/run-$side"
    t0=$(now)
    if [ "$side" = plain ]; then
      (cd "$WORK/run-$side" && npm install >/dev/null 2>&1)
    else
      (cd "$WORK/run-$side" && "${AL[@]}" --offline install >/dev/null 2>&1)
    fi
    t1=$(now)
    eval "t_$side=$(echo "$t1 - $t0" | bc)"
  done
  # Same tree both ways.
  diff <(cd "$WORK/run-plain" && find node_modules -type f | sort) \
       <(cd "$WORK/run-airlock" && find node_modules -type f | sort) >/dev/null \
    || { echo "pair $i: trees differ"; exit 1; }
  printf '%s\t%s\n' "$t_plain" "$t_airlock" >> "$WORK/pairs.tsv"
  printf 'pair %d: npm %.2fs  airlock %.2fs\n' "$i" "$t_plain" "$t_airlock"
done
python3 - "$WORK/pairs.tsv" <<'EOF'
import statistics, sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
p = statistics.median(r[0] for r in rows); a = statistics.median(r[1] for r in rows)
ratios = statistics.median(r[1] / r[0] for r in rows)
print(f"wrapper, all cached: npm install median {p:.2f}s, airlock npm install median {a:.2f}s, "
      f"ratio of medians {a/p:.3f}, median of paired ratios {ratios:.3f} (n={len(rows)})")
EOF

# 3. Proxy latency on a cached packument. Two upstreams: the mirror as is (every listed
#    version analyzed and clean, so the proxy sends the whole document) and the same
#    mirror listing every published version (as the public registry does: hundreds of
#    versions, most never analyzed, so the proxy filters them out).
node "$HERE/npm-mirror.mjs" serve "$WORK/mirror" "$((PORT + 1))" slim &
MIRROR_SLIM=$!
trap 'cleanup; kill $MIRROR_SLIM 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$((PORT + 1))/express" >/dev/null && break; sleep 0.1; done
N=${N:-300}
ACCEPT='accept: application/vnd.npm.install-v1+json'
for mode in clean full; do
  UP="http://127.0.0.1:$((PORT + 1))"; [ "$mode" = full ] && UP="http://127.0.0.1:$PORT"
  "$AIRLOCK" serve --listen 127.0.0.1:0 --store "$STORE" --rules "$RULES" --npm-upstream "$UP" \
    --concurrency 0 --prefetch 0 --packument-ttl 3600 2>"$WORK/serve-$mode.log" &
  SERVE=$!
  for _ in $(seq 600); do grep -q "serving on" "$WORK/serve-$mode.log" 2>/dev/null && break; sleep 0.1; done
  PROXY=$(grep -o 'http://[0-9.:]*' "$WORK/serve-$mode.log" | head -1)
  for name in express eslint glob; do
    curl -sf -H "$ACCEPT" "$PROXY/$name" >/dev/null || true  # fills the proxy's caches
    for target in up proxy; do
      url="$UP/$name"; [ "$target" = proxy ] && url="$PROXY/$name"
      for _ in $(seq "$N"); do
        curl -s -o /dev/null -H "$ACCEPT" -w '%{time_total} %{size_download}\n' "$url"
      done > "$WORK/lat-$mode-$name-$target.txt"
    done
    python3 - "$WORK/lat-$mode-$name-up.txt" "$WORK/lat-$mode-$name-proxy.txt" "$name" "$mode" <<'EOF'
import statistics, sys
def load(p):
    rows = [l.split() for l in open(p) if l.strip()]
    return [float(t) * 1000 for t, _ in rows], int(rows[0][1])
d, sd = load(sys.argv[1]); p, sp = load(sys.argv[2])
md, mp = statistics.median(d), statistics.median(p)
print(f"proxy ({sys.argv[4]} upstream), cached packument {sys.argv[3]}: upstream {md:.2f} ms "
      f"({sd} bytes), through the proxy {mp:.2f} ms ({sp} bytes), added {mp - md:+.2f} ms "
      f"(medians, n={len(d)})")
EOF
  done
  if [ "$mode" = full ]; then
    # The filtered document is rebuilt after a verdict change (or 2 s for other writers):
    # that request pays for the verdict lookups of every listed version.
    for _ in $(seq 10); do
      sleep 2.2
      curl -s -o /dev/null -H "$ACCEPT" -w '%{time_total}\n' "$PROXY/eslint"
    done > "$WORK/lat-rebuild.txt"
    python3 -c 'import statistics,sys; v=[float(x)*1000 for x in open(sys.argv[1])]; print(f"proxy, eslint packument rebuilt (upstream copy cached, filter recomputed over every version): median {statistics.median(v):.1f} ms (n={len(v)})")' "$WORK/lat-rebuild.txt"
  fi
  kill "$SERVE"; wait "$SERVE" 2>/dev/null || true; SERVE=
done
