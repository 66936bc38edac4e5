// SPDX-License-Identifier: GPL-2.0
/* Why this exists: airlock's recorder from outside the container. Loaded on the host,
 * attached to the raw syscall tracepoints and to sched_process_fork/exit, it keeps only
 * what tasks in the sandbox's cgroup (v2 id in `cgroups`) do and writes one record per
 * call the strace recorder would trace into a ring buffer. Nothing of it lives in the
 * package's PID namespace: no tracer, no ptrace, TracerPid stays 0.
 *
 * Calls are recorded when they finish (tp_btf/sys_exit): the arguments are still in the
 * saved user registers and the strings they point to still readable, and the result is
 * known. execve/execveat are the exception: their argv and environment are gone after a
 * successful exec, so tp_btf/sys_enter records them first (KIND_EXEC_ARGS) and the exit
 * record gives the result. Lost records (ring buffer full) are counted in `drops`,
 * which user space turns into a gap in the trace. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "recorder.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* x86_64 syscall numbers of the calls we record. */
#define SYS_open 2
#define SYS_access 21
#define SYS_dup2 33
#define SYS_socket 41
#define SYS_connect 42
#define SYS_sendto 44
#define SYS_sendmsg 46
#define SYS_bind 49
#define SYS_listen 50
#define SYS_clone 56
#define SYS_fork 57
#define SYS_vfork 58
#define SYS_execve 59
#define SYS_chdir 80
#define SYS_fchdir 81
#define SYS_rename 82
#define SYS_mkdir 83
#define SYS_creat 85
#define SYS_unlink 87
#define SYS_symlink 88
#define SYS_chmod 90
#define SYS_fchmod 91
#define SYS_ptrace 101
#define SYS_openat 257
#define SYS_mkdirat 258
#define SYS_unlinkat 263
#define SYS_renameat 264
#define SYS_symlinkat 266
#define SYS_fchmodat 268
#define SYS_faccessat 269
#define SYS_dup3 292
#define SYS_sendmmsg 307
#define SYS_process_vm_readv 310
#define SYS_process_vm_writev 311
#define SYS_renameat2 316
#define SYS_execveat 322
#define SYS_clone3 435
#define SYS_openat2 437
#define SYS_faccessat2 439
#define SYS_fchmodat2 452

#define AT_FDCWD -100
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define S_IFMT 0170000
#define S_IFSOCK 0140000
#define EAGAIN 11

/* Data area of one record and the caps of what goes in it. */
#define DCAP 32768
#define PATH_CAP 4096
#define NAME_CAP 256
#define ARG_CAP 2048
#define ARGV_MAX 64
#define ARGV_STOP 14336
#define ENV_CAP 512
#define ENV_MAX 512
#define ENV_STOP 28672
#define PATH_DEPTH 24
#define SOCKADDR_CAP 128
#define PAYLOAD_CAP 512

struct buf {
	struct rec h;
	__u8 d[DCAP];
};

/* Scratch records: one per CPU and program (0 sys_exit, 1 sys_enter, 2 sched). A raw
 * tracepoint program does not run twice at once on one CPU, so a slot is never shared;
 * user space sets max_entries to 3 x possible CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3 * 64);
	__type(key, __u32);
	__type(value, struct buf);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 32 << 20);
} events SEC(".maps");

/* Cgroup v2 ids of the sandboxes recorded. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);
	__type(value, __u8);
} cgroups SEC(".maps");

/* [0] records lost because the ring buffer was full, [1] records written. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

static __always_inline bool tracked(void)
{
	__u64 id = bpf_get_current_cgroup_id();
	return bpf_map_lookup_elem(&cgroups, &id) != 0;
}

static __always_inline void count(__u32 which)
{
	__u64 *n = bpf_map_lookup_elem(&drops, &which);
	if (n)
		*n += 1;
}

static __always_inline struct buf *scratch_slot(__u32 slot)
{
	__u32 key = bpf_get_smp_processor_id() * 3 + slot;
	return bpf_map_lookup_elem(&scratch, &key);
}

/* The id of `t` in the PID namespace at `level` (0 when it has none there). */
static __always_inline __u32 nr_at(struct task_struct *t, unsigned int level)
{
	struct pid *p = BPF_CORE_READ(t, thread_pid);
	if (!p)
		return 0;
	unsigned int l = BPF_CORE_READ(p, level);
	if (l < level || level > 32)
		return 0;
	struct upid up = {};
	bpf_probe_read_kernel(&up, sizeof(up), &p->numbers[level]);
	return up.nr;
}

static __always_inline unsigned int level_of(struct task_struct *t)
{
	return BPF_CORE_READ(t, thread_pid, level);
}

static __always_inline void fill_ids(struct buf *b, struct task_struct *t)
{
	unsigned int level = level_of(t);
	b->h.tid = nr_at(t, level);
	b->h.tgid = nr_at(BPF_CORE_READ(t, group_leader), level);
	b->h.ppid = nr_at(BPF_CORE_READ(t, real_parent), level);
}

static __always_inline void start(struct buf *b, __u32 kind, __s64 ret)
{
	b->h.kind = kind;
	b->h.ts = bpf_ktime_get_ns();
	b->h.ret = ret;
	b->h.a[0] = 0;
	b->h.a[1] = 0;
	b->h.a[2] = 0;
	b->h.a[3] = 0;
	b->h.len[0] = 0;
	b->h.len[1] = 0;
	b->h.len[2] = 0;
	b->h.len[3] = 0;
	b->h.flags = 0;
	b->h.pad = 0;
	fill_ids(b, (struct task_struct *)bpf_get_current_task());
}

static __always_inline void submit(struct buf *b, __u32 off)
{
	__u64 size = REC_HDR + (__u64)off;
	if (size > sizeof(*b))
		size = sizeof(*b);
	/* No wake-up per record (user space drains every few milliseconds), unless the
	 * buffer is filling up: a context switch per record is what would cost the
	 * package's processes time. */
	__u64 flags = BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > (8 << 20))
		flags = BPF_RB_FORCE_WAKEUP;
	if (bpf_ringbuf_output(&events, b, size, flags) < 0)
		count(0);
	else
		count(1);
}

/* A user string (with its NUL) as segment `seg`. */
static __always_inline __u32 put_ustr(struct buf *b, __u32 off, int seg, __u64 src)
{
	if (off > DCAP - PATH_CAP || !src)
		return off;
	long n = bpf_probe_read_user_str(&b->d[off], PATH_CAP, (const void *)src);
	if (n <= 0)
		return off;
	b->h.len[seg & 3] = n;
	return off + n;
}

/* Raw user bytes as segment `seg`. */
static __always_inline __u32 put_ubytes(struct buf *b, __u32 off, int seg, __u64 src, __u64 len,
					__u32 cap)
{
	if (off > DCAP - PAYLOAD_CAP || !src)
		return off;
	if (len > cap)
		len = cap;
	if (len > PAYLOAD_CAP)
		len = PAYLOAD_CAP;
	if (bpf_probe_read_user(&b->d[off], len, (const void *)src) < 0)
		return off;
	b->h.len[seg & 3] = len;
	return off + len;
}

struct walk_ctx {
	struct buf *b;
	__u32 off;
	bool done;
	struct dentry *d;
	struct vfsmount *vm;
	struct mount *mnt;
	struct dentry *root_d;
	struct vfsmount *root_m;
};

static long walk_step(__u32 i, void *arg)
{
	struct walk_ctx *c = arg;
	struct dentry *d = c->d;
	if (!d || (d == c->root_d && c->vm == c->root_m)) {
		c->done = true;
		return 1;
	}
	struct vfsmount *vm = c->vm;
	struct mount *mnt = c->mnt;
	struct dentry *mroot = BPF_CORE_READ(vm, mnt_root);
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	if (d == mroot || d == parent) {
		struct mount *pm = BPF_CORE_READ(mnt, mnt_parent);
		if (pm == mnt) {
			c->done = true;
			return 1;
		}
		c->d = BPF_CORE_READ(mnt, mnt_mountpoint);
		c->mnt = pm;
		c->vm = (void *)pm + bpf_core_field_offset(struct mount, mnt);
		return 0;
	}
	__u32 off = c->off;
	if (off > DCAP - NAME_CAP)
		return 1;
	const unsigned char *name = BPF_CORE_READ(d, d_name.name);
	long n = bpf_probe_read_kernel_str(&c->b->d[off], NAME_CAP, name);
	if (n <= 0)
		return 1;
	c->off = off + n;
	c->d = parent;
	return 0;
}

/* The path of (dentry, mount) walked up to the task's root, components leaf first. */
static __always_inline __u32 put_walk(struct buf *b, __u32 off, int seg, struct dentry *d,
				      struct vfsmount *vm)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct walk_ctx c = {
		.b = b,
		.off = off,
		.done = false,
		.d = d,
		.vm = vm,
		.mnt = (void *)vm - bpf_core_field_offset(struct mount, mnt),
		.root_d = BPF_CORE_READ(t, fs, root.dentry),
		.root_m = BPF_CORE_READ(t, fs, root.mnt),
	};
	bpf_loop(PATH_DEPTH, walk_step, &c, 0);
	if (!c.done)
		b->h.flags |= FLAG_PATH_CUT;
	__u32 end = c.off;
	if (end > DCAP)
		end = DCAP;
	b->h.len[seg & 3] = end > off ? end - off : 0;
	return end;
}

static __always_inline __u32 put_cwd(struct buf *b, __u32 off, int seg)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct dentry *d = BPF_CORE_READ(t, fs, pwd.dentry);
	struct vfsmount *vm = BPF_CORE_READ(t, fs, pwd.mnt);
	return put_walk(b, off, seg, d, vm);
}

static __always_inline struct file *fd_file(__s64 fd)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	unsigned int max = BPF_CORE_READ(fdt, max_fds);
	if (fd < 0 || fd >= max)
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* The directory behind a dirfd, for a relative path that is not AT_FDCWD-relative. */
static __always_inline __u32 put_dirfd(struct buf *b, __u32 off, int seg, __s64 dirfd,
				       __u64 upath)
{
	if ((int)dirfd == AT_FDCWD || !upath)
		return off;
	char first = 0;
	bpf_probe_read_user(&first, 1, (const void *)upath);
	if (first == '/')
		return off;
	struct file *f = fd_file((int)dirfd);
	if (!f)
		return off;
	return put_walk(b, off, seg, BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt));
}

static __always_inline struct sock *fd_sock(__s64 fd)
{
	struct file *f = fd_file(fd);
	if (!f)
		return 0;
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return 0;
	struct socket *s = BPF_CORE_READ(f, private_data);
	if (!s)
		return 0;
	return BPF_CORE_READ(s, sk);
}

struct sa6 {
	__u16 family;
	__be16 port;
	__u32 flow;
	__u8 addr[16];
	__u32 scope;
};

/* A socket's peer (or local) address as a sockaddr_in/in6 segment. */
static __always_inline __u32 put_sockname(struct buf *b, __u32 off, int seg, struct sock *sk,
					  bool peer)
{
	if (off > DCAP - SOCKADDR_CAP)
		return off;
	struct sa6 sa = {};
	sa.family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (peer)
		sa.port = BPF_CORE_READ(sk, __sk_common.skc_dport);
	else
		sa.port = bpf_htons(BPF_CORE_READ(sk, __sk_common.skc_num));
	__u32 len;
	if (sa.family == AF_INET) {
		__u32 a = peer ? BPF_CORE_READ(sk, __sk_common.skc_daddr)
			       : BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		sa.flow = a; /* sockaddr_in: the address sits where sin6_flowinfo would */
		len = 16;
	} else if (sa.family == AF_INET6) {
		if (peer)
			BPF_CORE_READ_INTO(&sa.addr, sk, __sk_common.skc_v6_daddr);
		else
			BPF_CORE_READ_INTO(&sa.addr, sk, __sk_common.skc_v6_rcv_saddr);
		len = 28;
	} else {
		return off;
	}
	bpf_probe_read_kernel(&b->d[off], len & 31, &sa);
	b->h.len[seg & 3] = len;
	return off + len;
}

static __always_inline __u32 put_usockaddr(struct buf *b, __u32 off, int seg, __u64 src,
					   __u64 len)
{
	if (off > DCAP - SOCKADDR_CAP || !src)
		return off;
	if (len > SOCKADDR_CAP)
		len = SOCKADDR_CAP;
	len &= 0xff;
	if (len > SOCKADDR_CAP)
		len = SOCKADDR_CAP;
	if (bpf_probe_read_user(&b->d[off], len, (const void *)src) < 0)
		return off;
	b->h.len[seg & 3] = len;
	return off + len;
}

static __always_inline bool datagram(struct sock *sk)
{
	return sk && BPF_CORE_READ(sk, sk_protocol) == IPPROTO_UDP;
}

/* One message of sendmsg/sendmmsg: destination (given, or the UDP socket's peer) and
 * the first bytes of the first iovec. Returns false when there is nothing to record
 * (a stream socket's data goes to the sink, which records it). */
static __always_inline bool put_msg(struct buf *b, __s64 fd, __u64 msg, __u32 *offp)
{
	struct {
		__u64 name;
		__u32 namelen;
		__u32 pad;
		__u64 iov;
		__u64 iovlen;
	} h = {};
	if (bpf_probe_read_user(&h, sizeof(h), (const void *)msg) < 0)
		return false;
	__u32 off = *offp;
	if (h.name) {
		off = put_usockaddr(b, off, 0, h.name, h.namelen);
	} else {
		struct sock *sk = fd_sock(fd);
		if (!datagram(sk))
			return false;
		off = put_sockname(b, off, 0, sk, true);
	}
	if (h.iov && h.iovlen) {
		struct {
			__u64 base;
			__u64 len;
		} v = {};
		if (bpf_probe_read_user(&v, sizeof(v), (const void *)h.iov) == 0)
			off = put_ubytes(b, off, 1, v.base, v.len, PAYLOAD_CAP);
	}
	*offp = off;
	return true;
}

struct list_ctx {
	struct buf *b;
	__u32 off;
	__u32 count;
	__u64 vec;
	__u32 stop;
	__u32 cap_flag;
	bool env;
	bool more;
	bool end;
};

/* One entry of an argv/envp vector: counted, and read while there is room. */
static __always_inline long list_body(__u32 i, struct list_ctx *c, const bool env)
{
	__u64 p = 0;
	if (!c->vec || bpf_probe_read_user(&p, sizeof(p), (const void *)(c->vec + i * 8)) < 0 ||
	    !p) {
		c->end = true;
		return 1;
	}
	c->count++;
	__u32 off = c->off;
	if (off > c->stop || off > ENV_STOP) {
		c->b->h.flags |= c->cap_flag;
		/* Keep counting environment entries; argv past the cap is cut. */
		if (env)
			return 0;
		return 1;
	}
	long n = bpf_probe_read_user_str(&c->b->d[off], ARG_CAP, (const void *)p);
	if (n > 0)
		c->off = off + n;
	if (!env && i == ARGV_MAX - 1)
		c->more = true;
	return 0;
}

static long argv_step(__u32 i, void *arg)
{
	return list_body(i, arg, false);
}

static long env_step(__u32 i, void *arg)
{
	return list_body(i, arg, true);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id)
{
	if (id != SYS_execve && id != SYS_execveat)
		return 0;
	if (!tracked())
		return 0;
	struct buf *b = scratch_slot(1);
	if (!b)
		return 0;
	start(b, KIND_EXEC_ARGS, 0);
	__u64 path, argv, envp;
	if (id == SYS_execve) {
		path = BPF_CORE_READ(regs, di);
		argv = BPF_CORE_READ(regs, si);
		envp = BPF_CORE_READ(regs, dx);
		b->h.a[0] = (__u64)(__s64)AT_FDCWD;
	} else {
		b->h.a[0] = BPF_CORE_READ(regs, di);
		path = BPF_CORE_READ(regs, si);
		argv = BPF_CORE_READ(regs, dx);
		envp = BPF_CORE_READ(regs, r10);
		b->h.a[2] = BPF_CORE_READ(regs, r8);
	}
	b->h.a[3] = id;
	__u32 off = put_ustr(b, 0, 0, path);
	struct list_ctx c = { .b = b, .off = off, .vec = argv, .stop = ARGV_STOP, .cap_flag = FLAG_ARGV_CUT };
	bpf_loop(ARGV_MAX, argv_step, &c, 0);
	if (c.more)
		b->h.flags |= FLAG_ARGV_CUT;
	off = c.off > DCAP ? DCAP : c.off;
	b->h.len[1] = off - (__u32)b->h.len[0];
	__u32 begin = off;
	struct list_ctx e = { .b = b, .off = off, .vec = envp, .stop = ENV_STOP, .cap_flag = FLAG_ENV_CUT, .env = true };
	bpf_loop(ENV_MAX, env_step, &e, 0);
	b->h.a[1] = e.count;
	off = e.off > DCAP ? DCAP : e.off;
	if (off < begin)
		off = begin;
	b->h.len[2] = off - begin;
	off = put_cwd(b, off, 3);
	submit(b, off);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret)
{
	long id = BPF_CORE_READ(regs, orig_ax);
	switch (id) {
	case SYS_open: case SYS_access: case SYS_dup2: case SYS_socket: case SYS_connect:
	case SYS_sendto: case SYS_sendmsg: case SYS_bind: case SYS_listen: case SYS_clone:
	case SYS_fork: case SYS_vfork: case SYS_execve: case SYS_chdir: case SYS_fchdir:
	case SYS_rename: case SYS_mkdir: case SYS_creat: case SYS_unlink: case SYS_symlink:
	case SYS_chmod: case SYS_fchmod: case SYS_ptrace: case SYS_openat: case SYS_mkdirat:
	case SYS_unlinkat: case SYS_renameat: case SYS_symlinkat: case SYS_fchmodat:
	case SYS_faccessat: case SYS_dup3: case SYS_sendmmsg: case SYS_process_vm_readv:
	case SYS_process_vm_writev: case SYS_renameat2: case SYS_execveat: case SYS_clone3:
	case SYS_openat2: case SYS_faccessat2: case SYS_fchmodat2:
		break;
	default:
		return 0;
	}
	if (!tracked())
		return 0;
	/* Successful forks are sched_process_fork's; only refusals are recorded here. */
	if ((id == SYS_clone || id == SYS_fork || id == SYS_vfork || id == SYS_clone3) &&
	    ret != -EAGAIN)
		return 0;
	struct buf *b = scratch_slot(0);
	if (!b)
		return 0;
	start(b, id, ret);
	__u64 p0 = BPF_CORE_READ(regs, di);
	__u64 p1 = BPF_CORE_READ(regs, si);
	__u64 p2 = BPF_CORE_READ(regs, dx);
	__u64 p3 = BPF_CORE_READ(regs, r10);
	__u64 p4 = BPF_CORE_READ(regs, r8);
	__u64 p5 = BPF_CORE_READ(regs, r9);
	__u32 off = 0;
	switch (id) {
	case SYS_open: case SYS_creat: case SYS_access: case SYS_unlink: case SYS_mkdir:
	case SYS_chmod:
		b->h.a[0] = p1;
		b->h.a[1] = (__u64)(__s64)AT_FDCWD;
		off = put_ustr(b, off, 0, p0);
		break;
	case SYS_chdir: case SYS_fchdir:
		if (ret != 0)
			return 0;
		off = put_cwd(b, off, 3);
		break;
	case SYS_openat: case SYS_faccessat: case SYS_faccessat2: case SYS_unlinkat:
	case SYS_mkdirat: case SYS_fchmodat: case SYS_fchmodat2:
		b->h.a[0] = p2;
		b->h.a[1] = p0;
		off = put_ustr(b, off, 0, p1);
		off = put_dirfd(b, off, 2, p0, p1);
		break;
	case SYS_openat2: {
		__u64 flags = 0;
		bpf_probe_read_user(&flags, sizeof(flags), (const void *)p2);
		b->h.a[0] = flags;
		b->h.a[1] = p0;
		off = put_ustr(b, off, 0, p1);
		off = put_dirfd(b, off, 2, p0, p1);
		break;
	}
	case SYS_rename:
		b->h.a[1] = (__u64)(__s64)AT_FDCWD;
		b->h.a[2] = (__u64)(__s64)AT_FDCWD;
		off = put_ustr(b, off, 0, p0);
		off = put_ustr(b, off, 1, p1);
		break;
	case SYS_renameat: case SYS_renameat2:
		b->h.a[1] = p0;
		b->h.a[2] = p2;
		off = put_ustr(b, off, 0, p1);
		off = put_ustr(b, off, 1, p3);
		off = put_dirfd(b, off, 2, p0, p1);
		off = put_dirfd(b, off, 3, p2, p3);
		break;
	case SYS_symlink:
		b->h.a[1] = (__u64)(__s64)AT_FDCWD;
		off = put_ustr(b, off, 0, p0);
		off = put_ustr(b, off, 1, p1);
		break;
	case SYS_symlinkat:
		b->h.a[1] = p1;
		off = put_ustr(b, off, 0, p0);
		off = put_ustr(b, off, 1, p2);
		off = put_dirfd(b, off, 2, p1, p2);
		break;
	case SYS_fchmod: {
		b->h.a[0] = p1;
		b->h.a[1] = p0;
		struct file *f = fd_file(p0);
		if (f)
			off = put_walk(b, off, 2, BPF_CORE_READ(f, f_path.dentry),
				       BPF_CORE_READ(f, f_path.mnt));
		break;
	}
	case SYS_socket:
		b->h.a[0] = p0;
		b->h.a[1] = p1;
		break;
	case SYS_connect: case SYS_bind:
		b->h.a[0] = p0;
		off = put_usockaddr(b, off, 0, p1, p2);
		break;
	case SYS_listen:
		b->h.a[0] = p0;
		break;
	case SYS_sendto:
		b->h.a[0] = p0;
		b->h.a[1] = p2;
		if (p4) {
			off = put_usockaddr(b, off, 0, p4, p5);
		} else {
			struct sock *sk = fd_sock(p0);
			if (!datagram(sk))
				return 0;
			off = put_sockname(b, off, 0, sk, true);
		}
		off = put_ubytes(b, off, 1, p1, p2, PAYLOAD_CAP);
		break;
	case SYS_sendmsg:
		b->h.a[0] = p0;
		if (!put_msg(b, p0, p1, &off))
			return 0;
		break;
	case SYS_sendmmsg: {
		/* struct mmsghdr: a 56-byte msghdr, then msg_len; up to two messages
		 * (a resolver's A and AAAA questions). */
		b->h.a[0] = p0;
		b->h.a[2] = p2;
		if (!put_msg(b, p0, p1, &off))
			return 0;
		__u32 sent = 0;
		bpf_probe_read_user(&sent, sizeof(sent), (const void *)(p1 + 56));
		b->h.a[1] = sent;
		submit(b, off);
		if (ret < 2 || p2 < 2)
			return 0;
		b->h.len[0] = 0;
		b->h.len[1] = 0;
		off = 0;
		if (!put_msg(b, p0, p1 + 64, &off))
			return 0;
		sent = 0;
		bpf_probe_read_user(&sent, sizeof(sent), (const void *)(p1 + 64 + 56));
		b->h.a[1] = sent;
		break;
	}
	case SYS_dup2: case SYS_dup3: {
		if (ret < 0 || p1 > 2)
			return 0;
		struct sock *sk = fd_sock(p0);
		if (!sk)
			return 0;
		__u16 proto = BPF_CORE_READ(sk, sk_protocol);
		if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
			return 0;
		b->h.a[0] = p0;
		b->h.a[1] = p1;
		b->h.a[2] = proto;
		off = put_sockname(b, off, 0, sk, true);
		off = put_sockname(b, off, 1, sk, false);
		break;
	}
	case SYS_ptrace:
		b->h.a[0] = p0;
		b->h.a[1] = p1;
		break;
	case SYS_process_vm_readv: case SYS_process_vm_writev:
		b->h.a[0] = p0;
		break;
	default:
		/* execve/execveat (the result of KIND_EXEC_ARGS) and refused forks: the
		 * header says it all. */
		break;
	}
	submit(b, off);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	if (!tracked())
		return 0;
	struct buf *b = scratch_slot(2);
	if (!b)
		return 0;
	start(b, KIND_FORK, 0);
	unsigned int level = level_of(parent);
	b->h.a[0] = nr_at(child, level);
	b->h.a[1] = nr_at(BPF_CORE_READ(child, group_leader), level);
	submit(b, 0);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p)
{
	if (!tracked())
		return 0;
	struct buf *b = scratch_slot(2);
	if (!b)
		return 0;
	start(b, KIND_EXIT, 0);
	b->h.a[0] = (__u32)BPF_CORE_READ(p, exit_code);
	submit(b, 0);
	return 0;
}
