/* Why this exists: the record layout shared by recorder.bpf.c (which writes it into the
 * ring buffer) and src/raw.rs (which reads it); keep the two in step. All fields are
 * little-endian, the header is followed by `len[0..4]` bytes of data segments in order. */
#ifndef AIRLOCK_RECORDER_BPF_H
#define AIRLOCK_RECORDER_BPF_H

/* Record kinds below 1000 are x86_64 syscall numbers (a finished call); these are the
 * others. */
#define KIND_EXEC_ARGS 1000 /* execve/execveat entry: s0 path, s1 argv, s2 env, s3 cwd */
#define KIND_FORK 1001      /* a0 child ns pid, a1 child ns tgid */
#define KIND_EXIT 1002      /* a0 exit_code (status << 8 | signal) */

/* Flags in rec.flags. */
#define FLAG_ARGV_CUT 1  /* argv had more entries or bytes than kept */
#define FLAG_ENV_CUT 2   /* env had more entries or bytes than kept */
#define FLAG_PATH_CUT 4  /* a directory walk stopped before the root */

/* Segment kinds in len[i]'s data, by record kind:
 * - strings: NUL-terminated bytes (length includes the NUL);
 * - string lists (argv, env): NUL-separated;
 * - walked paths: components leaf first, each NUL-terminated;
 * - sockaddrs, payloads: raw bytes. */

struct rec {
	__u32 kind;
	__u32 tgid; /* ids as the sandbox's PID namespace numbers them */
	__u32 tid;
	__u32 ppid;
	__u64 ts; /* CLOCK_MONOTONIC ns */
	__s64 ret;
	__u64 a[4];
	__u16 len[4];
	__u32 flags;
	__u32 pad;
};

#define REC_HDR 80

#endif
