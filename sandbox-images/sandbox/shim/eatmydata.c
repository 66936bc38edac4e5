/* Why this exists (issue 16): node must load the in-process hooks
 * (/usr/local/lib/devtools/node/preload.js) without anything a package can see naming
 * them: no NODE_OPTIONS in the environment a process starts with (/proc/<pid>/environ,
 * `env` in a lifecycle script), nothing in argv or process.execArgv. The image lists this
 * library in /etc/ld.so.preload; in a node process, while the hook channel exists, its
 * constructor adds `--require <preload>` to NODE_OPTIONS in the C library's environment
 * only, before node reads it. The preload then removes it from process.env.
 * NODE_EXTRA_CA_CERTS goes the same way (the system bundle, which trusts the network
 * sink's CA): Node's official builds trust only their own copy of Mozilla's roots, and
 * the variable in the environment would be one more tell.
 *
 * It carries the name, and does the job, of libeatmydata (fsync and friends return at
 * once), which CI machines commonly preload to speed up package installs; the sandbox
 * is thrown away after the run, so durability buys nothing here either.
 *
 * Built in the Dockerfile (cc -shared -fPIC -O2) and installed as
 * /usr/lib/x86_64-linux-gnu/libeatmydata.so; the source is not in the image. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHANNEL "/run/log/dev-log"
#define PRELOAD "/usr/local/lib/devtools/node/preload.js"
#define CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

__attribute__((constructor)) static void node_hooks(void) {
    char exe[512];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return;
    exe[n] = '\0';
    const char *base = strrchr(exe, '/');
    base = base ? base + 1 : exe;
    if (strcmp(base, "node") != 0 && strcmp(base, "nodejs") != 0)
        return;
    if (access(CHANNEL, F_OK) != 0)
        return;
    setenv("NODE_EXTRA_CA_CERTS", CA_BUNDLE, 0);
    const char *old = getenv("NODE_OPTIONS");
    if (old && strstr(old, PRELOAD))
        return;
    char buf[8192];
    int len = snprintf(buf, sizeof buf, "--require " PRELOAD "%s%s", old && *old ? " " : "",
                       old ? old : "");
    if (len > 0 && (size_t)len < sizeof buf)
        setenv("NODE_OPTIONS", buf, 1);
}

static int valid(int fd) { return fcntl(fd, F_GETFD) != -1; }

int fsync(int fd) { return valid(fd) ? 0 : -1; }
int fdatasync(int fd) { return valid(fd) ? 0 : -1; }
int syncfs(int fd) { return valid(fd) ? 0 : -1; }
void sync(void) {}
int msync(void *addr, size_t length, int flags) {
    (void)addr; (void)length; (void)flags;
    return 0;
}
