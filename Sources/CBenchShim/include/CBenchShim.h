// Bench-only system calls (POSIX message queues, CPU pinning, raw AF_UNIX datagram baselines).
#ifndef CBENCH_SHIM_H
#define CBENCH_SHIM_H
int cbench_placeholder(void);
#endif
