// Linux facilities that Swift cannot import from Glibc directly: variadic syscall(2) (futex),
// the CMSG_* macros, struct ucred, and _GNU_SOURCE-only calls. Thin wrappers only; no policy here.
#ifndef CMAILSLOT_SHIM_H
#define CMAILSLOT_SHIM_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

/// futex(FUTEX_WAIT) on a shared (not private) word; timeout_ns < 0 waits forever.
/// Returns 0 when woken, or -1 with errno (EAGAIN: value changed, ETIMEDOUT, EINTR).
int cms_futex_wait(uint32_t *addr, uint32_t expected, int64_t timeout_ns);
/// futex(FUTEX_WAKE) on a shared word. Returns the number woken or -1.
int cms_futex_wake(uint32_t *addr, int count);

/// memfd_create with MFD_CLOEXEC.
int cms_memfd_create(const char *name);
/// accept4 with SOCK_CLOEXEC | SOCK_NONBLOCK.
int cms_accept_nonblocking(int fd);

/// The credentials of a connected AF_UNIX peer (SO_PEERCRED).
int cms_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid);
/// The supplementary groups of a connected AF_UNIX peer (SO_PEERGROUPS). Returns the count, or -1.
int cms_peer_groups(int fd, uint32_t *groups, int capacity);

/// sendmsg one data buffer with `count` file descriptors attached (SCM_RIGHTS).
ssize_t cms_send_fds(int socket, const void *data, size_t length, const int *fds, int count);
/// recvmsg one data buffer and up to `capacity` attached descriptors (set O_CLOEXEC).
/// `*received` is set to the number of descriptors. Returns bytes received or -1.
ssize_t cms_recv_fds(int socket, void *data, size_t length, int *fds, int capacity, int *received);




/// Pin the calling thread to one CPU. Returns 0 or -1.
int cms_pin_to_cpu(int cpu);




// Process-shared, robust mutex placed in shared memory (pthread_mutex_t storage of 64 bytes).
#define CMS_MUTEX_SIZE 64
int cms_shm_mutex_init(void *storage);
/// Locks; if the previous owner died holding it, marks it consistent and returns 1. 0 on success, -1 on error.
int cms_shm_mutex_lock(void *storage);
void cms_shm_mutex_unlock(void *storage);

uint32_t cms_atomic_load_u32(const uint32_t *p);
void cms_atomic_store_u32(uint32_t *p, uint32_t v);
uint32_t cms_atomic_add_u32(uint32_t *p, uint32_t v);

/// fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE).
int cms_punch_hole(int fd, int64_t offset, int64_t length);

/// epoll_create1(EPOLL_CLOEXEC).
int cms_epoll_create(void);
/// epoll_ctl: op 1 add, 2 delete, 3 modify; `token` is returned by cms_epoll_wait.
int cms_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token);
/// epoll_wait into an array of tokens. Returns the count, or -1.
int cms_epoll_wait(int epfd, uint64_t *tokens, int capacity, int timeout_ms);
/// eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK).
int cms_eventfd(void);
/// Installs a handler for each of `signals` (process-wide, every thread) that signals one eventfd, and
/// returns that eventfd (the same one on every call), or -1 with errno set; the signals are unblocked in
/// the calling thread. For a program's clean shutdown on SIGINT/SIGTERM whatever thread the kernel picks
/// to deliver them.
int cms_signals_to_eventfd(const int *signals, int count);

/// recvmmsg on a UDP socket into `count` slots of `size` bytes; lengths[i] (set to size+1 when the
/// datagram was truncated), the sender's IPv4 address (host order) and port. Non-blocking.
int cms_recv_batch_from(int socket, uint8_t *buffers, size_t size, int count, uint32_t *lengths,
                        uint32_t *addresses, uint16_t *ports);

/// sendmmsg of `count` datagrams, laid end to end in `datagrams` (`lengths` each), to one IPv4 address
/// (host order) and port. Non-blocking; returns how many were sent (the first ones), or -1 with errno.
int cms_send_batch_to(int socket, const uint8_t *datagrams, const uint32_t *lengths, int count, uint32_t address,
                      uint16_t port);

/// Attaches a classic BPF filter to a UDP socket that drops one kind of datagram: a copy of a broadcast
/// this host sent (looped back by the kernel) from UDP port `port` whose NetBIOS source address (payload
/// bytes 4-7) is not its IP source address, that is, a datagram this host's gateway relayed for another
/// host. Everything else passes, short datagrams included. Returns 0, or -1 with errno.
int cms_drop_own_relays(int socket, uint16_t port);

/// Becomes `uid`/`gid` (supplementary groups: just `gid`) and keeps no capability but, when
/// `keep_net_bind_service` is set, CAP_NET_BIND_SERVICE (effective and permitted; every other one is
/// also dropped from the bounding set), then sets no_new_privs. Capabilities belong to threads: call it
/// before the process starts any. Returns 0, or -1 with errno.
int cms_drop_privileges(uint32_t uid, uint32_t gid, int keep_net_bind_service);
// MARK: per-writer rings

/// memfd_create with MFD_CLOEXEC | MFD_ALLOW_SEALING.
int cms_memfd_sealable(const char *name);
/// fcntl(F_ADD_SEALS). `which`: 1 shrink, 2 grow, 4 write, 8 future write, 16 seal (bits combine).
int cms_add_seals(int fd, int which);
/// fcntl(F_GET_SEALS) in the same bits, or -1.
int cms_get_seals(int fd);
/// mmap(PROT_READ, MAP_SHARED) of the whole file.
void *cms_map_read_only(int fd, size_t size);

/// The liveness word of a server process: a process-shared robust mutex (CMS_MUTEX_SIZE bytes) that one
/// thread of the server locks and holds while the mailslot lives. When that thread ends, however it ends
/// (SIGKILL included), the kernel clears the owner in the mutex's lock word (robust futex list), so a
/// writer that maps the page read-only learns without a system call that the server has gone.
int cms_liveness_init(void *storage);
/// Locks the liveness mutex from the calling thread (which must hold it until it unlocks or ends).
int cms_liveness_hold(void *storage);
void cms_liveness_release(void *storage);
/// Whether a thread holds the liveness mutex (its owner's tid is in the lock word).
static inline int cms_liveness_alive(const void *storage) {
    return (__atomic_load_n((const uint32_t *)storage, __ATOMIC_ACQUIRE) & 0x3fffffffu) != 0;
}

/// Atomics on shared memory, inline so that Swift's compiler can inline them into the hot paths.
static inline uint64_t cms_load_acquire_u64(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void cms_store_release_u64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline uint32_t cms_load_relaxed_u32(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void cms_store_relaxed_u32(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline uint32_t cms_exchange_u32(uint32_t *p, uint32_t v) { return __atomic_exchange_n(p, v, __ATOMIC_ACQ_REL); }
/// A full (sequentially consistent) fence: a store before it is visible before a load after it.
static inline void cms_fence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
/// The CPU's spin-wait hint.
static inline void cms_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
/// sched_yield(2).
int cms_yield(void);
/// Whether the peer of a connected socket has shut down or closed it (poll POLLRDHUP | POLLHUP, no wait).
int cms_peer_hung_up(int fd);
#endif
