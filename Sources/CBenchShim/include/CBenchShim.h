// Bench-only system calls that Swift cannot import cleanly: POSIX message queues (mq_open is
// variadic), CPU affinity (CPU_SET macros), raw AF_UNIX datagram sockets with abstract addresses,
// packet-mode pipes, memfd rings, posix_spawn with descriptor remapping, timed waits for children and
// per-thread CPU accounting. Thin wrappers; no policy here. The shared-memory ring's operations are
// static inline (Swift inlines them into its loops). Every function returns -1 with errno set on
// failure unless documented otherwise.
#ifndef CBENCH_SHIM_H
#define CBENCH_SHIM_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

// MARK: clocks

/// CLOCK_MONOTONIC in nanoseconds.
uint64_t cbench_now_ns(void);
/// CLOCK_REALTIME in nanoseconds (the clock mq_timedsend/mq_timedreceive deadlines use).
uint64_t cbench_realtime_ns(void);

// MARK: CPUs

/// Pins the calling thread to `cpu`, remembering its previous mask for cbench_unpin. Threads it
/// creates afterwards inherit the pin.
int cbench_pin_to_cpu(int cpu);
/// Restores the mask the calling thread had before its first cbench_pin_to_cpu.
int cbench_unpin(void);
/// The number of CPUs the process may run on (what nproc prints).
int cbench_cpu_count(void);

// MARK: POSIX message queues

/// mq_open(O_CREAT | O_EXCL | O_RDWR, 0600) with mq_maxmsg = maxmsg and mq_msgsize = msgsize.
/// Returns the descriptor.
int cbench_mq_create(const char *name, long maxmsg, long msgsize);
/// mq_open of an existing queue; `for_writing` selects O_WRONLY, otherwise O_RDONLY.
int cbench_mq_open(const char *name, int for_writing);
/// The queue's mq_maxmsg and mq_msgsize.
int cbench_mq_attributes(int mqd, long *maxmsg, long *msgsize);
/// mq_timedsend at priority 0 with an absolute CLOCK_REALTIME deadline in ns. 0 or -1.
int cbench_mq_send(int mqd, const void *buffer, size_t length, uint64_t deadline_realtime_ns);
/// mq_timedreceive with an absolute CLOCK_REALTIME deadline in ns. Bytes received or -1.
ssize_t cbench_mq_receive(int mqd, void *buffer, size_t capacity, uint64_t deadline_realtime_ns);
int cbench_mq_close(int mqd);
int cbench_mq_unlink(const char *name);

// MARK: AF_UNIX SOCK_DGRAM with abstract addresses (blocking)

/// A blocking SOCK_DGRAM socket bound to the abstract address `name` (length bytes, no leading NUL).
int cbench_udgram_bind(const char *name, size_t length);
/// A blocking, unbound SOCK_DGRAM socket.
int cbench_udgram_socket(void);
/// connect() to the abstract address `name`.
int cbench_udgram_connect(int fd, const char *name, size_t length);
/// SO_RCVTIMEO and SO_SNDTIMEO, so no blocking call waits forever.
int cbench_set_socket_timeouts(int fd, int milliseconds);
/// send() on a connected socket (MSG_NOSIGNAL). Bytes sent or -1.
ssize_t cbench_send(int fd, const void *buffer, size_t length);
/// recv(). Bytes received or -1.
ssize_t cbench_recv(int fd, void *buffer, size_t capacity);

// MARK: processes

/// posix_spawn(path, argv) with the child's descriptor `targets[i]` set to the parent's `sources[i]`
/// (every other descriptor the parent opened with O_CLOEXEC stays closed in the child).
/// Returns the pid, or -1 with errno.
pid_t cbench_spawn(const char *path, char *const argv[], const int *sources, const int *targets, int count);
/// Waits up to `timeout_ms` (<0: forever) for `pid`. Returns 1 and the wait status when it ended,
/// 0 on timeout, -1 on error.
int cbench_wait(pid_t pid, int timeout_ms, int *status);
/// Whether the wait status is a normal exit, and its code (or the signal with a negative sign).
int cbench_exit_code(int status);
/// pipe2(O_CLOEXEC).
int cbench_pipe(int fds[2]);
/// poll() one descriptor for reading. Returns 1 readable, 0 timeout, -1 error.
int cbench_wait_readable(int fd, int timeout_ms);
/// Names the calling thread (prctl PR_SET_NAME, 15 bytes at most), for ps, top and perf.
void cbench_set_thread_name(const char *name);
/// Kills the calling process with SIGALRM after `seconds`, so a stuck child can never outlive a run.
void cbench_alarm(unsigned seconds);

// UDP on loopback, for the network benchmark.
/// A UDP socket bound to 127.0.0.1:port (0 = any port) with a receive buffer of rcvbuf bytes; -1 on error.
int cbench_udp_socket(uint16_t port, int rcvbuf);
/// Sends `count` copies of one datagram to 127.0.0.1:port with sendmmsg, in batches; returns how many went.
long cbench_udp_blast(int fd, const void *datagram, size_t length, uint16_t port, long count);
/// Receives one datagram with a timeout (ms); returns its length, 0 on timeout, -1 on error.
ssize_t cbench_udp_receive(int fd, void *buffer, size_t capacity, int timeout_ms);

// MARK: pipes in packet mode

/// pipe2(O_DIRECT | O_CLOEXEC): a write of up to PIPE_BUF (4096) bytes is one packet and a read returns
/// one packet (a larger write is split into several).
int cbench_packet_pipe(int fds[2]);
/// read(), retried on EINTR. Bytes read (0: end of file) or -1.
ssize_t cbench_read(int fd, void *buffer, size_t capacity);
/// write(), retried on EINTR. Bytes written or -1.
ssize_t cbench_write(int fd, const void *buffer, size_t length);
/// Ignores SIGPIPE, so a write nobody can read fails with EPIPE instead of killing the process.
void cbench_ignore_sigpipe(void);
/// 1 when `fd` is an open descriptor, 0 otherwise.
int cbench_fd_is_open(int fd);

// MARK: shared memory

/// memfd_create(name, MFD_CLOEXEC) of `size` bytes. Returns the descriptor.
int cbench_memfd(const char *name, size_t size);
/// The size of the file behind `fd` (fstat), or -1.
ssize_t cbench_fd_size(int fd);
/// mmap(PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE) of the whole of `size` bytes (faulted in
/// now, not in a timed loop); NULL on failure.
void *cbench_map_shared(int fd, size_t size);
int cbench_unmap(void *address, size_t size);
/// clock_nanosleep until the CLOCK_MONOTONIC time `deadline_ns` (EINTR restarts it).
void cbench_sleep_until_ns(uint64_t deadline_ns);

// MARK: a bare single-producer single-consumer ring in shared memory
//
// Layout: a 256-byte header (three cache lines: the constants; the producer's tail; the consumer's
// head), then slot_count slots of slot_size bytes, each an 8-byte length and the message. The producer
// copies a message into slot tail % slot_count and publishes it with a release store of tail + 1; the
// consumer sees it with an acquire load of tail, copies it out and frees the slot with a release store
// of head + 1. Each side keeps its last view of the other's counter on its own cache line and looks at
// the other's counter only when that view shows no room (no message). No system calls, except
// sched_yield and nanosleep while a side waits.

#define CBENCH_RING_MAGIC 0x676e6972686373ULL /* "schring" */
#define CBENCH_RING_HEADER 256

typedef struct {
    uint64_t magic;
    uint64_t slot_size;  // bytes per slot, a multiple of 64: the 8-byte length and the message
    uint64_t slot_mask;  // slot count - 1 (a power of two)
    uint64_t pad0[5];
    uint64_t tail;       // written by the producer only: messages published
    uint64_t head_seen;  // the producer's last view of head
    uint64_t pad1[6];
    uint64_t head;       // written by the consumer only: messages taken
    uint64_t tail_seen;  // the consumer's last view of tail
    uint64_t pad2[6];
} cbench_ring_header;

/// How a side waits for the other (a full ring for the producer, empty rings for the consumer): it
/// spins with a pause hint, calling sched_yield every `spins_per_yield` spins (1 for a side pinned to
/// one CPU, where the other side can run only if it yields; CBENCH_RING_SPINS_PER_YIELD otherwise); once
/// it has waited its spin time (the producer CBENCH_RING_PUSH_SPIN_NS, the consumer
/// CBENCH_RING_POP_SPIN_NS) it naps CBENCH_RING_NAP_NS at a time instead of yielding, so that many
/// waiting writers (64 on 2 CPUs) do not take the CPU the reader needs. The clock is read only at the
/// yield points. None of this is on the path of a message that finds room (producer) or is already
/// there (consumer).
#define CBENCH_RING_SPINS_PER_YIELD 64
#define CBENCH_RING_PUSH_SPIN_NS 5000ULL
#define CBENCH_RING_POP_SPIN_NS 50000ULL
#define CBENCH_RING_NAP_NS 50000ULL

/// nanosleep for `ns` (relative; EINTR ends it early).
void cbench_nap_ns(uint64_t ns);

/// The CPU's spin-wait hint.
static inline void cbench_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

/// The slot size for messages of up to `message_size` bytes.
static inline size_t cbench_ring_slot_size(size_t message_size) { return (8 + message_size + 63) & ~(size_t)63; }

/// The bytes a ring of `slot_count` slots of `slot_size` takes.
static inline size_t cbench_ring_bytes(size_t slot_size, size_t slot_count) {
    return CBENCH_RING_HEADER + slot_size * slot_count;
}

/// Sets up a zeroed ring (before anyone else maps it). `slot_count` must be a power of two.
static inline void cbench_ring_init(void *ring, size_t slot_size, size_t slot_count) {
    cbench_ring_header *h = (cbench_ring_header *)ring;
    h->slot_size = slot_size;
    h->slot_mask = slot_count - 1;
    h->tail = h->head_seen = h->head = h->tail_seen = 0;
    __atomic_store_n(&h->magic, CBENCH_RING_MAGIC, __ATOMIC_RELEASE);
}

/// 0 when the `mapped` bytes at `ring` hold a ring that fits in them, -1 otherwise.
static inline int cbench_ring_check(const void *ring, size_t mapped) {
    const cbench_ring_header *h = (const cbench_ring_header *)ring;
    if (mapped < CBENCH_RING_HEADER || __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != CBENCH_RING_MAGIC) return -1;
    uint64_t slots = h->slot_mask + 1;
    if (h->slot_size < 64 || h->slot_size % 64 != 0 || (slots & h->slot_mask) != 0) return -1;
    return cbench_ring_bytes(h->slot_size, slots) <= mapped ? 0 : -1;
}

/// The largest message the ring's slots hold.
static inline size_t cbench_ring_capacity(const void *ring) {
    return ((const cbench_ring_header *)ring)->slot_size - 8;
}

/// Producer: copies the message in and publishes it. 1 when done, 0 when the ring is full.
static inline int cbench_ring_try_push(void *ring, const void *message, size_t length) {
    cbench_ring_header *h = (cbench_ring_header *)ring;
    uint64_t tail = __atomic_load_n(&h->tail, __ATOMIC_RELAXED);
    if (tail - h->head_seen > h->slot_mask) {
        h->head_seen = __atomic_load_n(&h->head, __ATOMIC_ACQUIRE);
        if (tail - h->head_seen > h->slot_mask) return 0;
    }
    unsigned char *slot = (unsigned char *)ring + CBENCH_RING_HEADER + (tail & h->slot_mask) * h->slot_size;
    uint64_t word = length;
    memcpy(slot, &word, 8);
    memcpy(slot + 8, message, length);
    __atomic_store_n(&h->tail, tail + 1, __ATOMIC_RELEASE);
    return 1;
}

/// Consumer: copies the oldest message out and frees its slot. Its length; -1 when the ring is empty;
/// -2 when the slot's length is larger than the slot or than `capacity` (the slot stays).
static inline int64_t cbench_ring_try_pop(void *ring, void *buffer, size_t capacity) {
    cbench_ring_header *h = (cbench_ring_header *)ring;
    uint64_t head = __atomic_load_n(&h->head, __ATOMIC_RELAXED);
    if (head == h->tail_seen) {
        h->tail_seen = __atomic_load_n(&h->tail, __ATOMIC_ACQUIRE);
        if (head == h->tail_seen) return -1;
    }
    const unsigned char *slot = (const unsigned char *)ring + CBENCH_RING_HEADER + (head & h->slot_mask) * h->slot_size;
    uint64_t length;
    memcpy(&length, slot, 8);
    if (length > h->slot_size - 8 || length > capacity) return -2;
    memcpy(buffer, slot + 8, length);
    __atomic_store_n(&h->head, head + 1, __ATOMIC_RELEASE);
    return (int64_t)length;
}

/// One step of a side's wait: a pause, and every `spins_per_yield` spins a yield (for the first
/// `spin_ns` of the wait) or a nap. `*since` is 0 until the first clock reading. 1 once `timeout_ns`
/// has passed.
static inline int cbench_ring_wait_step(uint32_t spins, uint32_t spins_per_yield, uint64_t *since, uint64_t spin_ns,
                                        uint64_t timeout_ns) {
    cbench_cpu_relax();
    if (spins % spins_per_yield != 0) return 0;
    uint64_t now = cbench_now_ns();
    if (*since == 0) *since = now;
    uint64_t waited = now - *since;
    if (waited > timeout_ns) return 1;
    if (waited < spin_ns) sched_yield();
    else cbench_nap_ns(CBENCH_RING_NAP_NS);
    return 0;
}

/// Producer: pushes, waiting while the ring is full (`spins_per_yield`: see above; at least 1). 1 when
/// done; 0 when the ring stayed full for `timeout_ns`; -1 when the message is larger than a slot.
static inline int cbench_ring_push(void *ring, const void *message, size_t length, uint32_t spins_per_yield,
                                   uint64_t timeout_ns) {
    if (length > cbench_ring_capacity(ring)) return -1;
    if (cbench_ring_try_push(ring, message, length)) return 1;
    uint64_t since = 0;
    for (uint32_t spins = 1;; spins++) {
        if (cbench_ring_wait_step(spins, spins_per_yield, &since, CBENCH_RING_PUSH_SPIN_NS, timeout_ns)) return 0;
        if (cbench_ring_try_push(ring, message, length)) return 1;
    }
}

/// Consumer: whether every message its last look at the producer's tail showed has been taken (the next
/// pop has to look again).
static inline int cbench_ring_seen_all(const void *ring) {
    const cbench_ring_header *h = (const cbench_ring_header *)ring;
    return __atomic_load_n(&h->head, __ATOMIC_RELAXED) == h->tail_seen;
}

/// Consumer of `count` rings, round robin: takes the next message of the ring at `*cursor`, staying on
/// that ring while it holds messages the last look at its tail showed (one look at a ring's tail per
/// visit) and then moving on to the next; waits while all are empty (`spins_per_yield`: see above; at
/// least 1). Its length; -1 when all stayed empty for `idle_ns`; -2 for a bad slot (see
/// cbench_ring_try_pop).
static inline int64_t cbench_rings_pop(void *const *rings, int count, int *cursor, void *buffer, size_t capacity,
                                       uint32_t spins_per_yield, uint64_t idle_ns) {
    uint64_t since = 0;
    int i = *cursor;
    for (uint32_t spins = 0;; spins++) {
        if (spins > 0 && cbench_ring_wait_step(spins, spins_per_yield, &since, CBENCH_RING_POP_SPIN_NS, idle_ns)) return -1;
        for (int k = 0; k < count; k++) {
            void *ring = rings[i];
            int64_t n = cbench_ring_try_pop(ring, buffer, capacity);
            if (n == -1 || cbench_ring_seen_all(ring)) i = i + 1 == count ? 0 : i + 1;
            if (n != -1) {
                *cursor = i;
                return n;
            }
        }
    }
}

// MARK: accounting

/// Sums over every thread of process `pid` (/proc/PID/task/*): the time on a CPU in ns (schedstat's
/// first field; the tick-granular utime + stime of stat where schedstat is missing), and the voluntary
/// and involuntary context switches. Returns the number of threads, or -1.
int cbench_process_stats(pid_t pid, uint64_t *cpu_ns, uint64_t *voluntary, uint64_t *involuntary);

#endif
