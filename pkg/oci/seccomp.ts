/**
 * The RuntimeDefault seccomp profile: an allowlist in the spirit of Docker's default profile (same
 * syscalls allowed, same capability-gated extras, same argument filters), organised here by topic and
 * generated for the architecture ucri runs on. Anything not listed fails with EPERM, except clone3 which
 * fails with ENOSYS so that libc falls back to clone(2), whose namespace flags can be filtered.
 */
import type { LinuxSeccomp, LinuxSyscall } from './spec.js';

const EPERM = 1;
const ENOSYS = 38;

/** Syscalls every container may use, grouped by what they are for. */
// biome-ignore format: dense tables read better than one name per line
const ALWAYS: Record<string, readonly string[]> = {
  files: [
    'access', 'chdir', 'chmod', 'chown', 'chown32', 'close', 'close_range', 'copy_file_range', 'creat', 'dup',
    'dup2', 'dup3', 'faccessat', 'faccessat2', 'fadvise64', 'fadvise64_64', 'fallocate', 'fchdir', 'fchmod',
    'fchmodat', 'fchown', 'fchown32', 'fchownat', 'fcntl', 'fcntl64', 'fdatasync', 'flock', 'fstat', 'fstat64',
    'fstatat64', 'fstatfs', 'fstatfs64', 'fsync', 'ftruncate', 'ftruncate64', 'futimesat', 'getcwd', 'getdents',
    'getdents64', 'lchown', 'lchown32', 'link', 'linkat', '_llseek', 'lseek', 'lstat', 'lstat64', 'mkdir',
    'mkdirat', 'mknod', 'mknodat', 'name_to_handle_at', 'newfstatat', 'open', 'openat', 'openat2', 'pread64',
    'preadv', 'preadv2', 'pwrite64', 'pwritev', 'pwritev2', 'read', 'readahead', 'readlink', 'readlinkat',
    'readv', 'rename', 'renameat', 'renameat2', 'rmdir', 'sendfile', 'sendfile64', 'splice', 'stat', 'stat64',
    'statfs', 'statfs64', 'statx', 'symlink', 'symlinkat', 'sync', 'sync_file_range', 'syncfs', 'tee',
    'truncate', 'truncate64', 'umask', 'unlink', 'unlinkat', 'utime', 'utimensat', 'utimensat_time64', 'utimes',
    'vmsplice', 'write', 'writev',
  ],
  xattrs: [
    'fgetxattr', 'flistxattr', 'fremovexattr', 'fsetxattr', 'getxattr', 'lgetxattr', 'listxattr', 'llistxattr',
    'lremovexattr', 'lsetxattr', 'removexattr', 'setxattr',
  ],
  polling: [
    'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_ctl_old', 'epoll_pwait', 'epoll_pwait2', 'epoll_wait',
    'epoll_wait_old', 'eventfd', 'eventfd2', 'fanotify_mark', 'inotify_add_watch', 'inotify_init',
    'inotify_init1', 'inotify_rm_watch', '_newselect', 'pause', 'poll', 'ppoll', 'ppoll_time64', 'pselect6',
    'pselect6_time64', 'select', 'signalfd', 'signalfd4', 'timerfd_create', 'timerfd_gettime',
    'timerfd_gettime64', 'timerfd_settime', 'timerfd_settime64',
  ],
  asyncIo: [
    'io_cancel', 'io_destroy', 'io_getevents', 'io_pgetevents', 'io_pgetevents_time64', 'io_setup', 'io_submit',
    'io_uring_enter', 'io_uring_register', 'io_uring_setup', 'ioctl',
  ],
  memory: [
    'brk', 'madvise', 'membarrier', 'memfd_create', 'memfd_secret', 'mincore', 'mlock', 'mlock2', 'mlockall',
    'mmap', 'mmap2', 'mprotect', 'mremap', 'msync', 'munlock', 'munlockall', 'munmap', 'pkey_alloc', 'pkey_free',
    'pkey_mprotect', 'remap_file_pages',
  ],
  processes: [
    'capget', 'capset', 'execve', 'execveat', 'exit', 'exit_group', 'fork', 'get_robust_list', 'getcpu',
    'getegid', 'getegid32', 'geteuid', 'geteuid32', 'getgid', 'getgid32', 'getgroups', 'getgroups32', 'getpgid',
    'getpgrp', 'getpid', 'getppid', 'getpriority', 'getresgid', 'getresgid32', 'getresuid', 'getresuid32',
    'getrlimit', 'getrusage', 'getsid', 'gettid', 'getuid', 'getuid32', 'ioprio_get', 'ioprio_set', 'kill',
    'pidfd_open', 'pidfd_send_signal', 'prctl', 'prlimit64', 'process_mrelease', 'restart_syscall', 'rseq',
    'sched_get_priority_max', 'sched_get_priority_min', 'sched_getaffinity', 'sched_getattr', 'sched_getparam',
    'sched_getscheduler', 'sched_rr_get_interval', 'sched_rr_get_interval_time64', 'sched_setaffinity',
    'sched_setattr', 'sched_setparam', 'sched_setscheduler', 'sched_yield', 'seccomp', 'set_robust_list',
    'set_thread_area', 'set_tid_address', 'setfsgid', 'setfsgid32', 'setfsuid', 'setfsuid32', 'setgid',
    'setgid32', 'setgroups', 'setgroups32', 'setpgid', 'setpriority', 'setregid', 'setregid32', 'setresgid',
    'setresgid32', 'setresuid', 'setresuid32', 'setreuid', 'setreuid32', 'setrlimit', 'setsid', 'setuid',
    'setuid32', 'get_thread_area', 'tgkill', 'tkill', 'ugetrlimit', 'uname', 'vfork', 'wait4', 'waitid',
    'waitpid', 'landlock_add_rule', 'landlock_create_ruleset', 'landlock_restrict_self',
  ],
  signals: [
    'alarm', 'getitimer', 'rt_sigaction', 'rt_sigpending', 'rt_sigprocmask', 'rt_sigqueueinfo', 'rt_sigreturn',
    'rt_sigsuspend', 'rt_sigtimedwait', 'rt_sigtimedwait_time64', 'rt_tgsigqueueinfo', 'setitimer',
    'sigaltstack', 'sigprocmask', 'sigreturn',
  ],
  time: [
    'adjtimex', 'clock_adjtime', 'clock_adjtime64', 'clock_getres', 'clock_getres_time64', 'clock_gettime',
    'clock_gettime64', 'clock_nanosleep', 'clock_nanosleep_time64', 'gettimeofday', 'nanosleep', 'time',
    'timer_create', 'timer_delete', 'timer_getoverrun', 'timer_gettime', 'timer_gettime64', 'timer_settime',
    'timer_settime64', 'times',
  ],
  sync: ['futex', 'futex_time64', 'futex_waitv'],
  sockets: [
    'accept', 'accept4', 'bind', 'connect', 'getpeername', 'getsockname', 'getsockopt', 'listen', 'recv',
    'recvfrom', 'recvmmsg', 'recvmmsg_time64', 'recvmsg', 'send', 'sendmmsg', 'sendmsg', 'sendto',
    'setsockopt', 'shutdown', 'socketcall', 'socketpair',
  ],
  sysvIpc: [
    'ipc', 'mq_getsetattr', 'mq_notify', 'mq_open', 'mq_timedreceive', 'mq_timedreceive_time64', 'mq_timedsend',
    'mq_timedsend_time64', 'mq_unlink', 'msgctl', 'msgget', 'msgrcv', 'msgsnd', 'semctl', 'semget', 'semop',
    'semtimedop', 'semtimedop_time64', 'shmat', 'shmctl', 'shmdt', 'shmget',
  ],
  misc: ['getrandom', 'sysinfo'],
};

/** Extra syscalls allowed only when the container holds the capability. */
// biome-ignore format: dense tables read better than one name per line
const BY_CAPABILITY: Record<string, readonly string[]> = {
  CAP_SYS_ADMIN: [
    'bpf', 'clone', 'clone3', 'fanotify_init', 'fsconfig', 'fsmount', 'fsopen', 'fspick', 'lookup_dcookie',
    'mount', 'mount_setattr', 'move_mount', 'open_tree', 'perf_event_open', 'quotactl', 'quotactl_fd',
    'setdomainname', 'sethostname', 'setns', 'syslog', 'umount', 'umount2', 'unshare',
  ],
  CAP_DAC_READ_SEARCH: ['open_by_handle_at'],
  CAP_SYS_BOOT: ['reboot'],
  CAP_SYS_CHROOT: ['chroot'],
  CAP_SYS_MODULE: ['delete_module', 'init_module', 'finit_module'],
  CAP_SYS_PACCT: ['acct'],
  CAP_SYS_PTRACE: ['kcmp', 'pidfd_getfd', 'process_madvise'],
  CAP_SYS_RAWIO: ['iopl', 'ioperm'],
  CAP_SYS_TIME: ['settimeofday', 'stime', 'clock_settime', 'clock_settime64'],
  CAP_SYS_TTY_CONFIG: ['vhangup'],
  CAP_SYS_NICE: ['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node'],
  CAP_SYSLOG: ['syslog'],
  CAP_BPF: ['bpf'],
  CAP_PERFMON: ['perf_event_open'],
};

/** ptrace and friends: safe since kernel 4.8 (seccomp is re-checked after a tracer changes a syscall). */
const PTRACE = ['ptrace', 'process_vm_readv', 'process_vm_writev'];

/** Per-architecture extras and the seccomp architecture list. */
const ARCHES: Record<string, { architectures: string[]; extra: string[] }> = {
  x64: { architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'], extra: ['arch_prctl', 'modify_ldt'] },
  arm64: {
    architectures: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
    extra: ['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls'],
  },
};

/** personality(2) personas allowed: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, query. */
const PERSONAS = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

/** Namespace flags of clone(2) (CLONE_NEWNS … CLONE_NEWNET, CLONE_NEWCGROUP): refused without CAP_SYS_ADMIN. */
const CLONE_NS_FLAGS = 0x7e020000;

/**
 * The RuntimeDefault profile for a process with the given (bounding) capabilities, for `arch`
 * (process.arch, default the host's). Unknown architectures get the generic allowlist without extras.
 */
export function runtimeDefaultSeccomp(capabilities: readonly string[], arch: string = process.arch): LinuxSeccomp {
  const caps = new Set(capabilities);
  const a = ARCHES[arch];
  const allowed = new Set<string>([...Object.values(ALWAYS).flat(), ...PTRACE, ...(a?.extra ?? [])]);
  for (const [cap, names] of Object.entries(BY_CAPABILITY)) if (caps.has(cap)) for (const n of names) allowed.add(n);
  const rules: LinuxSyscall[] = [{ names: [...allowed].sort(), action: 'SCMP_ACT_ALLOW' }];
  // AF_VSOCK (40) sockets reach the hypervisor host; every other family is fine.
  rules.push({ names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }] });
  for (const p of PERSONAS) {
    rules.push({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: p, op: 'SCMP_CMP_EQ' }] });
  }
  if (!caps.has('CAP_SYS_ADMIN')) {
    // Thread and process creation stay allowed; creating namespaces does not.
    rules.push({
      names: ['clone'],
      action: 'SCMP_ACT_ALLOW',
      args: [{ index: arch === 's390x' ? 1 : 0, value: CLONE_NS_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
    });
    // clone3 passes flags in memory where seccomp cannot look; ENOSYS makes libc use clone instead.
    rules.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  }
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: EPERM,
    architectures: a ? [...a.architectures] : undefined,
    syscalls: rules,
  };
}
