#define _GNU_SOURCE
#include "CBenchShim.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <mqueue.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

// MARK: clocks

static uint64_t clock_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t cbench_now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
uint64_t cbench_realtime_ns(void) { return clock_ns(CLOCK_REALTIME); }

static struct timespec timespec_from_ns(uint64_t ns) {
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ULL), .tv_nsec = (long)(ns % 1000000000ULL)};
    return ts;
}

// MARK: CPUs

static __thread cpu_set_t saved_mask;
static __thread int saved_mask_valid;

int cbench_pin_to_cpu(int cpu) {
    if (!saved_mask_valid) {
        if (sched_getaffinity(0, sizeof(saved_mask), &saved_mask) != 0) return -1;
        saved_mask_valid = 1;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set);
}

int cbench_unpin(void) {
    if (!saved_mask_valid) return 0;
    return sched_setaffinity(0, sizeof(saved_mask), &saved_mask);
}

int cbench_cpu_count(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return (int)sysconf(_SC_NPROCESSORS_ONLN);
    return CPU_COUNT(&set);
}

// MARK: POSIX message queues

int cbench_mq_create(const char *name, long maxmsg, long msgsize) {
    struct mq_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.mq_maxmsg = maxmsg;
    attr.mq_msgsize = msgsize;
    mqd_t q = mq_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600, &attr);
    return q == (mqd_t)-1 ? -1 : (int)q;
}

int cbench_mq_open(const char *name, int for_writing) {
    mqd_t q = mq_open(name, (for_writing ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
    return q == (mqd_t)-1 ? -1 : (int)q;
}

int cbench_mq_attributes(int mqd, long *maxmsg, long *msgsize) {
    struct mq_attr attr;
    if (mq_getattr((mqd_t)mqd, &attr) != 0) return -1;
    *maxmsg = attr.mq_maxmsg;
    *msgsize = attr.mq_msgsize;
    return 0;
}

int cbench_mq_send(int mqd, const void *buffer, size_t length, uint64_t deadline_realtime_ns) {
    struct timespec ts = timespec_from_ns(deadline_realtime_ns);
    int r;
    do {
        r = mq_timedsend((mqd_t)mqd, (const char *)buffer, length, 0, &ts);
    } while (r != 0 && errno == EINTR);
    return r;
}

ssize_t cbench_mq_receive(int mqd, void *buffer, size_t capacity, uint64_t deadline_realtime_ns) {
    struct timespec ts = timespec_from_ns(deadline_realtime_ns);
    ssize_t r;
    do {
        r = mq_timedreceive((mqd_t)mqd, (char *)buffer, capacity, NULL, &ts);
    } while (r < 0 && errno == EINTR);
    return r;
}

int cbench_mq_close(int mqd) { return mq_close((mqd_t)mqd); }
int cbench_mq_unlink(const char *name) { return mq_unlink(name); }

// MARK: AF_UNIX SOCK_DGRAM

static socklen_t abstract_address(struct sockaddr_un *addr, const char *name, size_t length) {
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    if (length > sizeof(addr->sun_path) - 1) length = sizeof(addr->sun_path) - 1;
    memcpy(addr->sun_path + 1, name, length); // sun_path[0] = 0: abstract namespace
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + length);
}

int cbench_udgram_socket(void) { return socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0); }

int cbench_udgram_bind(const char *name, size_t length) {
    int fd = cbench_udgram_socket();
    if (fd < 0) return -1;
    struct sockaddr_un addr;
    socklen_t len = abstract_address(&addr, name, length);
    if (bind(fd, (struct sockaddr *)&addr, len) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int cbench_udgram_connect(int fd, const char *name, size_t length) {
    struct sockaddr_un addr;
    socklen_t len = abstract_address(&addr, name, length);
    return connect(fd, (struct sockaddr *)&addr, len);
}

int cbench_set_socket_timeouts(int fd, int milliseconds) {
    struct timeval tv = {.tv_sec = milliseconds / 1000, .tv_usec = (milliseconds % 1000) * 1000};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) return -1;
    return setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

ssize_t cbench_send(int fd, const void *buffer, size_t length) {
    ssize_t r;
    do {
        r = send(fd, buffer, length, MSG_NOSIGNAL);
    } while (r < 0 && errno == EINTR);
    return r;
}

ssize_t cbench_recv(int fd, void *buffer, size_t capacity) {
    ssize_t r;
    do {
        r = recv(fd, buffer, capacity, 0);
    } while (r < 0 && errno == EINTR);
    return r;
}

// MARK: processes

pid_t cbench_spawn(const char *path, char *const argv[], const int *sources, const int *targets, int count) {
    // Move the sources above every target first (close-on-exec copies), so a dup2 to one target can
    // never clobber the source of another.
    int high[16];
    if (count < 0 || count > 16) { errno = EINVAL; return -1; }
    for (int i = 0; i < count; i++) {
        high[i] = fcntl(sources[i], F_DUPFD_CLOEXEC, 64);
        if (high[i] < 0) {
            int saved = errno;
            for (int j = 0; j < i; j++) close(high[j]);
            errno = saved;
            return -1;
        }
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    for (int i = 0; i < count; i++) posix_spawn_file_actions_adddup2(&actions, high[i], targets[i]);
    pid_t pid = -1;
    int r = posix_spawn(&pid, path, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    for (int i = 0; i < count; i++) close(high[i]);
    if (r != 0) { errno = r; return -1; }
    return pid;
}

int cbench_wait(pid_t pid, int timeout_ms, int *status) {
    uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : cbench_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
    for (;;) {
        pid_t r = waitpid(pid, status, timeout_ms < 0 ? 0 : WNOHANG);
        if (r == pid) return 1;
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (cbench_now_ns() >= deadline) return 0;
        struct timespec nap = {.tv_sec = 0, .tv_nsec = 2000000}; // 2 ms
        nanosleep(&nap, NULL);
    }
}

int cbench_exit_code(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return -WTERMSIG(status);
    return -1000;
}

int cbench_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int cbench_wait_readable(int fd, int timeout_ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    for (;;) {
        int r = poll(&p, 1, timeout_ms);
        if (r < 0 && errno == EINTR) continue;
        return r;
    }
}

void cbench_set_thread_name(const char *name) { prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0); }

void cbench_alarm(unsigned seconds) {
    signal(SIGALRM, SIG_DFL);
    alarm(seconds);
}

// MARK: pipes in packet mode

int cbench_packet_pipe(int fds[2]) { return pipe2(fds, O_DIRECT | O_CLOEXEC); }

ssize_t cbench_read(int fd, void *buffer, size_t capacity) {
    ssize_t r;
    do {
        r = read(fd, buffer, capacity);
    } while (r < 0 && errno == EINTR);
    return r;
}

ssize_t cbench_write(int fd, const void *buffer, size_t length) {
    ssize_t r;
    do {
        r = write(fd, buffer, length);
    } while (r < 0 && errno == EINTR);
    return r;
}

void cbench_ignore_sigpipe(void) { signal(SIGPIPE, SIG_IGN); }

int cbench_fd_is_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

// MARK: shared memory

int cbench_memfd(const char *name, size_t size) {
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0) return -1;
    if (ftruncate(fd, (off_t)size) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

ssize_t cbench_fd_size(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0) return -1;
    return (ssize_t)st.st_size;
}

void *cbench_map_shared(int fd, size_t size) {
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

int cbench_unmap(void *address, size_t size) { return munmap(address, size); }

void cbench_nap_ns(uint64_t ns) {
    struct timespec ts = timespec_from_ns(ns);
    nanosleep(&ts, NULL);
}

void cbench_sleep_until_ns(uint64_t deadline_ns) {
    struct timespec ts = timespec_from_ns(deadline_ns);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
}

// MARK: accounting

/// Reads a small /proc file into `buffer` (NUL-terminated). Bytes read, or -1.
static ssize_t read_small(const char *path, char *buffer, size_t capacity) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t total = 0;
    while ((size_t)total < capacity - 1) {
        ssize_t n = read(fd, buffer + total, capacity - 1 - (size_t)total);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        total += n;
    }
    close(fd);
    buffer[total] = 0;
    return total;
}

/// The number after `key` in /proc/.../status text, or 0.
static uint64_t status_field(const char *text, const char *key) {
    const char *p = strstr(text, key);
    return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

int cbench_process_stats(pid_t pid, uint64_t *cpu_ns, uint64_t *voluntary, uint64_t *involuntary) {
    char path[96];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *dir = opendir(path);
    if (!dir) return -1;
    long ticks = sysconf(_SC_CLK_TCK);
    uint64_t cpu = 0, vol = 0, invol = 0;
    int threads = 0;
    char text[4096];
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/%d/task/%s/schedstat", (int)pid, entry->d_name);
        if (read_small(path, text, sizeof text) > 0) {
            cpu += strtoull(text, NULL, 10);
        } else {
            // No schedstat: utime and stime (fields 14 and 15 of stat, after the parenthesised name).
            snprintf(path, sizeof path, "/proc/%d/task/%s/stat", (int)pid, entry->d_name);
            if (read_small(path, text, sizeof text) <= 0) continue; // the thread just ended
            char *p = strrchr(text, ')');
            if (!p) continue;
            unsigned long long utime = 0, stime = 0;
            if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) continue;
            if (ticks > 0) cpu += (utime + stime) * (1000000000ULL / (uint64_t)ticks);
        }
        snprintf(path, sizeof path, "/proc/%d/task/%s/status", (int)pid, entry->d_name);
        if (read_small(path, text, sizeof text) <= 0) continue;
        vol += status_field(text, "\nvoluntary_ctxt_switches:");
        invol += status_field(text, "nonvoluntary_ctxt_switches:");
        threads++;
    }
    closedir(dir);
    *cpu_ns = cpu;
    *voluntary = vol;
    *involuntary = invol;
    return threads;
}

#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>

int cbench_udp_socket(uint16_t port, int rcvbuf) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) { close(fd); return -1; }
    return fd;
}

long cbench_udp_blast(int fd, const void *datagram, size_t length, uint16_t port, long count) {
    struct sockaddr_in to = {0};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct mmsghdr msgs[32];
    struct iovec iov = {.iov_base = (void *)datagram, .iov_len = length};
    for (int i = 0; i < 32; i++) {
        memset(&msgs[i], 0, sizeof msgs[i]);
        msgs[i].msg_hdr.msg_iov = &iov;
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &to;
        msgs[i].msg_hdr.msg_namelen = sizeof to;
    }
    long sent = 0;
    while (sent < count) {
        int batch = count - sent < 32 ? (int)(count - sent) : 32;
        int n = sendmmsg(fd, msgs, (unsigned)batch, 0);
        if (n < 0) {
            if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN) continue;
            return sent;
        }
        sent += n;
    }
    return sent;
}

ssize_t cbench_udp_receive(int fd, void *buffer, size_t capacity, int timeout_ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    for (;;) {
        int r = poll(&p, 1, timeout_ms);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return r;
        ssize_t n = recv(fd, buffer, capacity, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        return n;
    }
}
