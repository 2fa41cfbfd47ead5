/* The plain helpers of the Win32 C API: the per-thread last error, time, strings, memory, and the NT
 * status table. The mailslot, event and NT file functions are in Sources/MailslotWin32 (Swift). */
#define _GNU_SOURCE
#include "mailslot_win32.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* The layout Windows code (and the Swift side) relies on, on every LP64 Linux. */
_Static_assert(sizeof(OVERLAPPED) == 32, "OVERLAPPED is 32 bytes");
_Static_assert(offsetof(OVERLAPPED, hEvent) == 24, "OVERLAPPED.hEvent at 24");
_Static_assert(sizeof(IO_STATUS_BLOCK) == 16, "IO_STATUS_BLOCK is 16 bytes");
_Static_assert(sizeof(OBJECT_ATTRIBUTES) == 48, "OBJECT_ATTRIBUTES is 48 bytes");
_Static_assert(sizeof(UNICODE_STRING) == 16, "UNICODE_STRING is 16 bytes");
_Static_assert(sizeof(FILE_MAILSLOT_QUERY_INFORMATION) == 24, "FILE_MAILSLOT_QUERY_INFORMATION is 24 bytes");
_Static_assert(sizeof(SECURITY_ATTRIBUTES) == 24, "SECURITY_ATTRIBUTES is 24 bytes");
_Static_assert(sizeof(WCHAR) == 2, "WCHAR is 16 bits");
_Static_assert(sizeof(LONG) == 4 && sizeof(DWORD) == 4, "LONG and DWORD are 32 bits");

static _Thread_local DWORD last_error;

DWORD GetLastError(void) { return last_error; }
void SetLastError(DWORD dwErrCode) { last_error = dwErrCode; }

static ULONGLONG monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (ULONGLONG)ts.tv_sec * 1000u + (ULONGLONG)ts.tv_nsec / 1000000u;
}

DWORD GetTickCount(void) { return (DWORD)monotonic_ms(); }
ULONGLONG GetTickCount64(void) { return monotonic_ms(); }

void Sleep(DWORD dwMilliseconds) {
    if (dwMilliseconds == INFINITE) {
        for (;;) pause();
    }
    struct timespec ts = {.tv_sec = dwMilliseconds / 1000u, .tv_nsec = (long)(dwMilliseconds % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/* GetCurrentProcess returns the pseudo-handle (HANDLE)-1, as on Windows. */
HANDLE GetCurrentProcess(void) { return (HANDLE)(intptr_t)-1; }
DWORD GetCurrentProcessId(void) { return (DWORD)getpid(); }
DWORD GetCurrentThreadId(void) { return (DWORD)syscall(SYS_gettid); }

/* ---- memory: every block comes from malloc, so LocalFree also frees security descriptors ---- */
HLOCAL LocalAlloc(UINT uFlags, SIZE_T uBytes) {
    void *p = (uFlags & LMEM_ZEROINIT) ? calloc(1, uBytes ? uBytes : 1) : malloc(uBytes ? uBytes : 1);
    if (!p) SetLastError(ERROR_NOT_ENOUGH_MEMORY);
    return p;
}
HLOCAL LocalFree(HLOCAL hMem) {
    free(hMem);
    return NULL;
}
HGLOBAL GlobalAlloc(UINT uFlags, SIZE_T dwBytes) { return LocalAlloc(uFlags, dwBytes); }
HGLOBAL GlobalFree(HGLOBAL hMem) { return LocalFree(hMem); }

/* ---- strings (NULL is treated as the empty string, as Windows does) ---- */
int lstrlenA(LPCSTR s) { return s ? (int)strlen(s) : 0; }
int lstrlenW(LPCWSTR s) {
    int n = 0;
    if (s) while (s[n]) n++;
    return n;
}
int lstrcmpA(LPCSTR a, LPCSTR b) {
    int r = strcmp(a ? a : "", b ? b : "");
    return (r > 0) - (r < 0);
}
int lstrcmpW(LPCWSTR a, LPCWSTR b) {
    static const WCHAR empty[1] = {0};
    if (!a) a = empty;
    if (!b) b = empty;
    while (*a && *a == *b) a++, b++;
    return (*a > *b) - (*a < *b);
}
static WCHAR fold_w(WCHAR c) { return (c >= 'a' && c <= 'z') ? (WCHAR)(c - 32) : c; }
int lstrcmpiA(LPCSTR a, LPCSTR b) {
    int r = strcasecmp(a ? a : "", b ? b : "");
    return (r > 0) - (r < 0);
}
int lstrcmpiW(LPCWSTR a, LPCWSTR b) {
    static const WCHAR empty[1] = {0};
    if (!a) a = empty;
    if (!b) b = empty;
    while (*a && fold_w(*a) == fold_w(*b)) a++, b++;
    return (fold_w(*a) > fold_w(*b)) - (fold_w(*a) < fold_w(*b));
}
LPSTR lstrcpyA(LPSTR d, LPCSTR s) { return d && s ? strcpy(d, s) : NULL; }
LPWSTR lstrcpyW(LPWSTR d, LPCWSTR s) {
    if (!d || !s) return NULL;
    LPWSTR r = d;
    while ((*d++ = *s++)) {
    }
    return r;
}
LPSTR lstrcatA(LPSTR d, LPCSTR s) { return d && s ? strcat(d, s) : NULL; }
LPWSTR lstrcatW(LPWSTR d, LPCWSTR s) {
    if (!d || !s) return NULL;
    lstrcpyW(d + lstrlenW(d), s);
    return d;
}

void RtlInitUnicodeString(PUNICODE_STRING d, PCWSTR s) {
    size_t n = s ? (size_t)lstrlenW(s) * sizeof(WCHAR) : 0;
    if (n > 0xFFFC) n = 0xFFFC;
    d->Length = (USHORT)n;
    d->MaximumLength = s ? (USHORT)(n + sizeof(WCHAR)) : 0;
    d->Buffer = (PWSTR)s;
}

/* NTSTATUS -> Win32 error, for every status this library produces. Statuses with the customer bit
 * (0xE0000000 | code) carry a Win32 code that has no NT equivalent (ERROR_MESSAGE_EXCEEDS_MAX_SIZE). */
ULONG RtlNtStatusToDosError(NTSTATUS status) {
    ULONG s = (ULONG)status;
    if ((s & 0xFFFF0000u) == 0xE0000000u) return s & 0xFFFFu;
    switch (s) {
    case 0x00000000u: return ERROR_SUCCESS;
    case 0x00000102u: return WAIT_TIMEOUT;
    case 0x00000103u: return ERROR_IO_PENDING;
    case 0x80000005u: return ERROR_MORE_DATA;
    case 0xC0000001u: return ERROR_GEN_FAILURE;
    case 0xC0000002u: return ERROR_INVALID_FUNCTION;
    case 0xC0000003u: return ERROR_INVALID_PARAMETER;
    case 0xC0000004u: return 24u; /* ERROR_BAD_LENGTH */
    case 0xC0000005u: return ERROR_NOACCESS;
    case 0xC0000008u: return ERROR_INVALID_HANDLE;
    case 0xC000000Du: return ERROR_INVALID_PARAMETER;
    case 0xC0000010u: return ERROR_INVALID_FUNCTION;
    case 0xC0000017u: return ERROR_NOT_ENOUGH_MEMORY;
    case 0xC0000022u: return ERROR_ACCESS_DENIED;
    case 0xC0000023u: return ERROR_INSUFFICIENT_BUFFER;
    case 0xC0000024u: return ERROR_INVALID_HANDLE;
    case 0xC0000033u: return ERROR_INVALID_NAME;
    case 0xC0000034u: return ERROR_FILE_NOT_FOUND;
    case 0xC0000035u: return ERROR_ALREADY_EXISTS;
    case 0xC0000039u: return ERROR_BAD_PATHNAME;
    case 0xC000003Au: return ERROR_PATH_NOT_FOUND;
    case 0xC000003Bu: return ERROR_BAD_PATHNAME;
    case 0xC0000043u: return ERROR_SHARING_VIOLATION;
    case 0xC0000044u: return ERROR_NOT_ENOUGH_QUOTA;
    case 0xC000009Au: return 1450u; /* ERROR_NO_SYSTEM_RESOURCES */
    case 0xC00000B5u: return ERROR_SEM_TIMEOUT;
    case 0xC00000BBu: return ERROR_NOT_SUPPORTED;
    case 0xC00000BEu: return ERROR_BAD_NETPATH;
    case 0xC0000106u: return ERROR_FILENAME_EXCED_RANGE;
    case 0xC0000120u: return ERROR_OPERATION_ABORTED;
    case 0xC000014Bu: return ERROR_BROKEN_PIPE;
    default: return 317u; /* ERROR_MR_MID_NOT_FOUND, as Windows answers for an unknown status */
    }
}
