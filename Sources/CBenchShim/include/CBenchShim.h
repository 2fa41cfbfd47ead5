// Bench-only system calls that Swift cannot import cleanly: POSIX message queues (mq_open is
// variadic), CPU affinity (CPU_SET macros), raw AF_UNIX datagram sockets with abstract addresses,
// posix_spawn with descriptor remapping, and timed waits for children. Thin wrappers; no policy here.
// Every function returns -1 with errno set on failure unless documented otherwise.
#ifndef CBENCH_SHIM_H
#define CBENCH_SHIM_H

#include <stddef.h>
#include <stdint.h>
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

#endif
