#define _GNU_SOURCE
#include "CMailslotShim.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/sockios.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int cms_futex_wait(uint32_t *addr, uint32_t expected, int64_t timeout_ns) {
    struct timespec ts, *tsp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = (time_t)(timeout_ns / 1000000000LL);
        ts.tv_nsec = (long)(timeout_ns % 1000000000LL);
        tsp = &ts;
    }
    long r = syscall(SYS_futex, addr, FUTEX_WAIT, expected, tsp, NULL, 0);
    return r < 0 ? -1 : 0;
}

int cms_futex_wake(uint32_t *addr, int count) {
    long r = syscall(SYS_futex, addr, FUTEX_WAKE, count, NULL, NULL, 0);
    return (int)r;
}

int cms_memfd_create(const char *name) { return memfd_create(name, MFD_CLOEXEC); }

int cms_accept_nonblocking(int fd) { return accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK); }

int cms_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid) {
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
    *pid = cred.pid;
    *uid = cred.uid;
    *gid = cred.gid;
    return 0;
}

int cms_peer_groups(int fd, uint32_t *groups, int capacity) {
    socklen_t len = (socklen_t)(capacity * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) != 0) return -1;
    return (int)(len / sizeof(gid_t));
}

ssize_t cms_send_fds(int socket, const void *data, size_t length, const int *fds, int count) {
    struct iovec iov = {.iov_base = (void *)data, .iov_len = length};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * 8)];
    } control;
    if (count < 0 || count > 8) { errno = EINVAL; return -1; }
    memset(&control, 0, sizeof(control));
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (count > 0) {
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * count);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * count);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * count);
    }
    return sendmsg(socket, &msg, MSG_NOSIGNAL);
}

ssize_t cms_recv_fds(int socket, void *data, size_t length, int *fds, int capacity, int *received) {
    struct iovec iov = {.iov_base = data, .iov_len = length};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * 8)];
    } control;
    memset(&control, 0, sizeof(control));
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof(control.buf);
    *received = 0;
    ssize_t n = recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) return n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int n_fds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            int *in = (int *)CMSG_DATA(c);
            for (int i = 0; i < n_fds; i++) {
                if (*received < capacity) fds[(*received)++] = in[i];
                else close(in[i]);
            }
        }
    }
    if (msg.msg_flags & MSG_CTRUNC) {
        /* The kernel could not install every descriptor sent (this process is at RLIMIT_NOFILE): what came
           is useless without the rest, so it is closed and the caller hears EMFILE, not a short greeting. */
        for (int i = 0; i < *received; i++) close(fds[i]);
        *received = 0;
        errno = EMFILE;
        return -1;
    }
    return n;
}

/* Points message i of a receive batch at its slot: `size` bytes at buffers + i * stride. */
static void cms_batch_slot(struct mmsghdr *msg, struct iovec *iov, uint8_t *buffers, size_t size, size_t stride, int i) {
    iov->iov_base = buffers + (size_t)i * stride;
    iov->iov_len = size;
    memset(&msg->msg_hdr, 0, sizeof(msg->msg_hdr));
    msg->msg_hdr.msg_iov = iov;
    msg->msg_hdr.msg_iovlen = 1;
    msg->msg_len = 0;
}

int cms_pin_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set);
}

#include <pthread.h>
_Static_assert(sizeof(pthread_mutex_t) <= CMS_MUTEX_SIZE, "mutex storage too small");

int cms_shm_mutex_init(void *storage) {
    pthread_mutexattr_t attr;
    if (pthread_mutexattr_init(&attr) != 0) return -1;
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    int r = pthread_mutex_init((pthread_mutex_t *)storage, &attr);
    pthread_mutexattr_destroy(&attr);
    return r == 0 ? 0 : -1;
}

int cms_shm_mutex_lock(void *storage) {
    int r = pthread_mutex_lock((pthread_mutex_t *)storage);
    if (r == 0) return 0;
    if (r == EOWNERDEAD) {
        pthread_mutex_consistent((pthread_mutex_t *)storage);
        return 1;
    }
    errno = r;
    return -1;
}

void cms_shm_mutex_unlock(void *storage) { pthread_mutex_unlock((pthread_mutex_t *)storage); }

uint32_t cms_atomic_load_u32(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
void cms_atomic_store_u32(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
uint32_t cms_atomic_add_u32(uint32_t *p, uint32_t v) { return __atomic_add_fetch(p, v, __ATOMIC_ACQ_REL); }

int cms_punch_hole(int fd, int64_t offset, int64_t length) {
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
}

#include <sys/epoll.h>
#include <sys/eventfd.h>

int cms_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int cms_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = events;
    ev.data.u64 = token;
    return epoll_ctl(epfd, op, fd, &ev);
}

int cms_epoll_wait(int epfd, uint64_t *tokens, int capacity, int timeout_ms) {
    struct epoll_event events[64];
    if (capacity > 64) capacity = 64;
    int n = epoll_wait(epfd, events, capacity, timeout_ms);
    for (int i = 0; i < n; i++) tokens[i] = events[i].data.u64;
    return n;
}

int cms_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

#include <signal.h>
#include <stdint.h>

/* The descriptor the signal handler below signals; set once, before the handler is installed. */
static int cms_signal_fd = -1;

/* Async-signal-safe: one write(2) to an eventfd, errno kept. */
static void cms_on_signal(int number) {
    (void)number;
    int saved = errno;
    uint64_t one = 1;
    ssize_t ignored = write(cms_signal_fd, &one, sizeof one);
    (void)ignored;
    errno = saved;
}

int cms_signals_to_eventfd(const int *signals, int count) {
    if (cms_signal_fd < 0) {
        cms_signal_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (cms_signal_fd < 0) return -1;
    }
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = cms_on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigset_t unblock;
    sigemptyset(&unblock);
    for (int i = 0; i < count; i++) {
        if (sigaction(signals[i], &action, NULL) != 0) return -1;
        sigaddset(&unblock, signals[i]);
    }
    /* A parent may have started us with these signals blocked (some process launchers do): the calling
       thread takes them, so that they are not left pending in every thread. */
    pthread_sigmask(SIG_UNBLOCK, &unblock, NULL);
    return cms_signal_fd;
}

#include <netinet/in.h>
#include <arpa/inet.h>

int cms_recv_batch_from(int socket, uint8_t *buffers, size_t size, int count, uint32_t *lengths,
                        uint32_t *addresses, uint16_t *ports) {
    struct mmsghdr msgs[64];
    struct iovec iovs[64];
    struct sockaddr_in from[64];
    if (count > 64) count = 64;
    for (int i = 0; i < count; i++) {
        cms_batch_slot(&msgs[i], &iovs[i], buffers, size, size, i);
        msgs[i].msg_hdr.msg_name = &from[i];
        msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
    }
    int n = recvmmsg(socket, msgs, (unsigned)count, MSG_DONTWAIT, NULL);
    for (int i = 0; i < n; i++) {
        lengths[i] = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? (uint32_t)size + 1 : msgs[i].msg_len;
        addresses[i] = ntohl(from[i].sin_addr.s_addr);
        ports[i] = ntohs(from[i].sin_port);
    }
    return n;
}

int cms_send_batch_to(int socket, const uint8_t *datagrams, const uint32_t *lengths, int count, uint32_t address,
                      uint16_t port) {
    struct mmsghdr msgs[64];
    struct iovec iovs[64];
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(address)};
    if (count > 64) count = 64;
    size_t offset = 0;
    for (int i = 0; i < count; i++) {
        iovs[i].iov_base = (void *)(datagrams + offset);
        iovs[i].iov_len = lengths[i];
        offset += lengths[i];
        memset(&msgs[i], 0, sizeof msgs[i]);
        msgs[i].msg_hdr.msg_name = &to;
        msgs[i].msg_hdr.msg_namelen = sizeof to;
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    return sendmmsg(socket, msgs, (unsigned)count, MSG_DONTWAIT | MSG_NOSIGNAL);
}

#include <linux/filter.h>
#include <linux/if_packet.h>

int cms_drop_own_relays(int socket, uint16_t port) {
    // The program sees the datagram from its UDP header on: the UDP source port at 0, the NetBIOS
    // datagram's source address at 8 + 4. The IP header is reached through SKF_NET_OFF.
    struct sock_filter code[] = {
        /* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_PKTTYPE)),
        /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_LOOPBACK, 0, 8),  /* not looped back: keep */
        /* 2 */ BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
        /* 3 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 8 + 8, 0, 6),            /* too short to tell: keep */
        /* 4 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 0),
        /* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 0, 4),             /* not from the gateway's port: keep */
        /* 6 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_NET_OFF + 12)),
        /* 7 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
        /* 8 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 8 + 4),
        /* 9 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_X, 0, 0, 1),                /* its own sender's: keep */
        /* 10 */ BPF_STMT(BPF_RET | BPF_K, 0xFFFFFFFFu),
        /* 11 */ BPF_STMT(BPF_RET | BPF_K, 0),
    };
    struct sock_fprog program = {.len = sizeof code / sizeof code[0], .filter = code};
    return setsockopt(socket, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program);
}

#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>

int cms_drop_privileges(uint32_t uid, uint32_t gid, int keep_net_bind_service) {
    for (int cap = 0; cap <= 63; cap++) {
        if (keep_net_bind_service && cap == CAP_NET_BIND_SERVICE) continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) return -1; /* EINVAL: no such capability */
    }
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return -1;
    gid_t groups[1] = {(gid_t)gid};
    if (setgroups(1, groups) != 0) return -1;
    if (setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) != 0) return -1;
    if (setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) != 0) return -1;
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    memset(data, 0, sizeof data);
    if (keep_net_bind_service) data[0].effective = data[0].permitted = 1u << CAP_NET_BIND_SERVICE;
    if (syscall(SYS_capset, &header, data) != 0) return -1;
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return -1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    return 0;
}


// MARK: per-writer rings

#include <poll.h>
#include <pthread.h>

int cms_memfd_sealable(const char *name) { return memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING); }

static int seal_bits(int which) {
    int s = 0;
    if (which & 1) s |= F_SEAL_SHRINK;
    if (which & 2) s |= F_SEAL_GROW;
    if (which & 4) s |= F_SEAL_WRITE;
    if (which & 8) s |= F_SEAL_FUTURE_WRITE;
    if (which & 16) s |= F_SEAL_SEAL;
    return s;
}

int cms_add_seals(int fd, int which) { return fcntl(fd, F_ADD_SEALS, seal_bits(which)); }

int cms_get_seals(int fd) {
    int s = fcntl(fd, F_GET_SEALS);
    if (s < 0) return -1;
    int which = 0;
    if (s & F_SEAL_SHRINK) which |= 1;
    if (s & F_SEAL_GROW) which |= 2;
    if (s & F_SEAL_WRITE) which |= 4;
    if (s & F_SEAL_FUTURE_WRITE) which |= 8;
    if (s & F_SEAL_SEAL) which |= 16;
    return which;
}

void *cms_map_read_only(int fd, size_t size) {
    void *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

_Static_assert(sizeof(pthread_mutex_t) <= CMS_MUTEX_SIZE, "liveness mutex storage");

int cms_liveness_init(void *storage) { return cms_shm_mutex_init(storage); }

int cms_liveness_hold(void *storage) {
    int r = pthread_mutex_lock((pthread_mutex_t *)storage);
    if (r == EOWNERDEAD) { pthread_mutex_consistent((pthread_mutex_t *)storage); r = 0; }
    if (r != 0) { errno = r; return -1; }
    return 0;
}

void cms_liveness_release(void *storage) { pthread_mutex_unlock((pthread_mutex_t *)storage); }

int cms_yield(void) { return sched_yield(); }

int cms_peer_hung_up(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLRDHUP, .revents = 0};
    int r = poll(&p, 1, 0);
    return r > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}
