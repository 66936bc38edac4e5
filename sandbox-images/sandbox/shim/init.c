/* Why this exists (issue 16): PID 1 of the sandbox was `docker-init -- cat`, a container
 * runtime's name in every `ps` and /proc/1/cmdline. This is the sandbox's PID 1 instead,
 * installed as /usr/lib/systemd/systemd and started as /sbin/init, with the process name
 * `systemd`, as on the Ubuntu runners and laptops the personas are. It does what
 * docker-init and `cat` did: reaps every orphan that is re-parented to it, and ends the
 * container when its standard input ends (airlock holds that input open for the
 * container's life, so a container whose airlock died stops; docker.rs). SIGTERM ends
 * it too. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig) {
    (void)sig;
    stop = 1;
}

static void on_child(int sig) { (void)sig; }

int main(void) {
    prctl(PR_SET_NAME, "systemd", 0, 0, 0);
    struct sigaction sa = {0};
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_child;
    sigaction(SIGCHLD, &sa, NULL);
    int input_open = 1;
    char buf[4096];
    while (!stop) {
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
        if (!input_open) {
            pause();
            continue;
        }
        struct pollfd p = {.fd = 0, .events = POLLIN};
        int r = poll(&p, 1, -1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            input_open = 0;
            continue;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(0, buf, sizeof buf);
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
                break;
        }
    }
    return 0;
}
