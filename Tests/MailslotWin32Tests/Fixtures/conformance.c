/*
 * conformance.c: checks libMailslotWin32 against the conformance sheet (/work/shared/spec/conformance.md,
 * lines W1-W47 and R1), the NT layer included, plus the Win32 surroundings mailslot code relies on
 * (overlapped reads, CancelIo, DuplicateHandle, events, the W functions, SDDL, tick counts).
 *
 * The expected results are those of current Windows (Vista and later; Windows 8 and later for W38), as
 * Wine's conformance tests establish them (dlls/kernel32/tests/mailslot.c, dlls/ntdll/tests/om.c
 * test_name_limits) together with Wine's kernelbase (CreateMailslotW, GetMailslotInfo, SetMailslotInfo).
 * Where the sheet leaves a result open, the comment next to the check says what was chosen and why.
 *
 * Usage: conformance '\\.\mailslot\<unique prefix>'   (every mailslot it makes is <prefix>\<something>)
 * Output: one "FAILED: ..." line per failed check, then "N passed, M failed"; exit status 1 if M > 0.
 * Every wait is bounded (no single wait is longer than ~3 s) and a watchdog ends a run that hangs.
 */
#define _POSIX_C_SOURCE 200809L
#include "mailslot_win32.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uchar.h>

#define NAME_MAX_CHARS 1024
#define WATCHDOG_MS 90000u

/* ---- Bookkeeping -------------------------------------------------------------------------------- */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_passed, g_failed, g_finished;
static const char *g_section = "start";
static DWORD g_err;       /* the last GetLastError() taken with ERR(), printed with a failure */
static NTSTATUS g_status; /* the last NTSTATUS taken with NT(), likewise */

#define ERR() (g_err = GetLastError())
#define NT(call) (g_status = (call))

static void check(int ok, const char *what)
{
    pthread_mutex_lock(&g_lock);
    if (ok)
        g_passed++;
    else {
        g_failed++;
        printf("FAILED: %s (GetLastError %u / status 0x%08x)\n", what, (unsigned)g_err, (unsigned)g_status);
        fflush(stdout);
    }
    pthread_mutex_unlock(&g_lock);
}
#define CHECK(cond, what) check((cond) ? 1 : 0, (what))

static void section(const char *name)
{
    pthread_mutex_lock(&g_lock);
    g_section = name;
    pthread_mutex_unlock(&g_lock);
}

/* Ends the run, with the summary line, if a call never returns. */
static void *watchdog(void *arg)
{
    (void)arg;
    ULONGLONG start = GetTickCount64();
    for (;;) {
        Sleep(100);
        pthread_mutex_lock(&g_lock);
        if (g_finished) {
            pthread_mutex_unlock(&g_lock);
            return NULL;
        }
        if (GetTickCount64() - start > WATCHDOG_MS) {
            printf("FAILED: watchdog: the run did not finish within %u s (stuck in: %s)\n", WATCHDOG_MS / 1000, g_section);
            printf("%d passed, %d failed\n", g_passed, g_failed + 1);
            fflush(stdout);
            _Exit(1);
        }
        pthread_mutex_unlock(&g_lock);
    }
}

/* NTSTATUS comparisons through one typed helper (keeps -Wsign-compare quiet whatever the constant's type). */
static int st_is(NTSTATUS got, NTSTATUS want) { return got == want; }

/* "IOSB untouched" checks: prefill with 0xdeadbeef as Wine's tests do. */
static void iosb_prefill(IO_STATUS_BLOCK *io)
{
    memset(io, 0, sizeof *io);
    io->Status = (NTSTATUS)0xdeadbeef;
    io->Information = 0xdeadbeef;
}
static int iosb_untouched(const IO_STATUS_BLOCK *io)
{
    return st_is(io->Status, (NTSTATUS)0xdeadbeef) && io->Information == 0xdeadbeef;
}

static DWORD since(DWORD t0) { return GetTickCount() - t0; }

/* Polls a flag guarded by lock for up to ms milliseconds. */
static int wait_flag(pthread_mutex_t *lock, const int *flag, DWORD ms)
{
    DWORD t0 = GetTickCount();
    for (;;) {
        pthread_mutex_lock(lock);
        int v = *flag;
        pthread_mutex_unlock(lock);
        if (v) return 1;
        if (since(t0) >= ms) return 0;
        Sleep(5);
    }
}

/* ---- Names -------------------------------------------------------------------------------------- */

static char g_prefix[400];            /* argv[1]: \\.\mailslot\<path> */
static const char *g_rest;            /* <path>, the part after \\.\mailslot\ */

/* <prefix>\<suffix> */
static void make_name(char *out, const char *suffix) { snprintf(out, NAME_MAX_CHARS, "%s\\%s", g_prefix, suffix); }

static void upcase(char *out, const char *in)
{
    size_t i;
    for (i = 0; in[i]; i++) out[i] = (char)toupper((unsigned char)in[i]);
    out[i] = 0;
}

static void widen(char16_t *out, const char *in)
{
    size_t i;
    for (i = 0; in[i]; i++) out[i] = (char16_t)(unsigned char)in[i];
    out[i] = 0;
}

static size_t wlen(const char16_t *s)
{
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

static void wappend(char16_t *dst, const char16_t *src)
{
    size_t n = wlen(dst), i;
    for (i = 0; src[i]; i++) dst[n + i] = src[i];
    dst[n + i] = 0;
}

/* The NT name of <prefix>\<suffix> under device (\??\MAILSLOT\ or \Device\Mailslot\ in any case). */
static void make_nt_name(char16_t *out, const char *device, const char *suffix)
{
    char tmp[NAME_MAX_CHARS + 64];
    snprintf(tmp, sizeof tmp, "%s%s\\%s", device, g_rest, suffix);
    widen(out, tmp);
}

static NTSTATUS nt_create(HANDLE *h, ACCESS_MASK access, const char16_t *name, ULONG options, ULONG max_size,
                          PLARGE_INTEGER timeout)
{
    UNICODE_STRING str;
    OBJECT_ATTRIBUTES attr;
    IO_STATUS_BLOCK io;
    RtlInitUnicodeString(&str, name);
    InitializeObjectAttributes(&attr, &str, OBJ_CASE_INSENSITIVE, NULL, NULL);
    *h = INVALID_HANDLE_VALUE;
    return NT(NtCreateMailslotFile(h, access, &attr, &io, options, 0, max_size, timeout));
}

static HANDLE open_client(const char *name, DWORD access, DWORD share)
{
    return CreateFileA(name, access, share, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
}

/* GetMailslotInfo(h, NULL, &next, &count, NULL) == (want_next, want_count), with a note when not. */
static int info_is(HANDLE h, DWORD want_next, DWORD want_count)
{
    DWORD next = 0x55555555, count = 0x55555555;
    BOOL ok = GetMailslotInfo(h, NULL, &next, &count, NULL);
    ERR();
    if (ok && next == want_next && count == want_count) return 1;
    printf("  note: GetMailslotInfo ok=%d next=%u count=%u (expected next=%u count=%u)\n", ok, (unsigned)next,
           (unsigned)count, (unsigned)want_next, (unsigned)want_count);
    return 0;
}

static int query_info(HANDLE h, FILE_MAILSLOT_QUERY_INFORMATION *qi)
{
    IO_STATUS_BLOCK io;
    iosb_prefill(&io);
    memset(qi, 0xcc, sizeof *qi);
    return NT_SUCCESS(NT(NtQueryInformationFile(h, &io, qi, sizeof *qi, FileMailslotQueryInformation)));
}

static void close_if(HANDLE h)
{
    if (h != INVALID_HANDLE_VALUE && h != NULL) CloseHandle(h);
}

#define FOREVER_NT ((LONGLONG)0x7fffffffffffffffLL)

/* ---- W1-W8: naming and creation --------------------------------------------------------------- */

static void test_naming(void)
{
    char name[NAME_MAX_CHARS], upper[NAME_MAX_CHARS], msg[160];
    unsigned char buf[16];
    DWORD max, next, count, timeout, e, n;
    HANDLE h, h2, c;
    BOOL ok;

    section("W1-W8 naming and creation");
    make_name(name, "naming");

    /* W1: a name outside \\.\mailslot\ resolves outside the mailslot device. */
    SetLastError(0xdeadbeef);
    h = CreateMailslotA("blah", 0, 0, NULL);
    e = ERR();
    CHECK(h == INVALID_HANDLE_VALUE && e == ERROR_INVALID_NAME, "W1 CreateMailslotA(\"blah\") fails with ERROR_INVALID_NAME (123)");
    close_if(h);

    /* W2 */
    SetLastError(0xdeadbeef);
    h = CreateMailslotA(NULL, 0, 0, NULL);
    e = ERR();
    CHECK(h == INVALID_HANDLE_VALUE && e == ERROR_PATH_NOT_FOUND, "W2 CreateMailslotA(NULL) fails with ERROR_PATH_NOT_FOUND (3)");
    close_if(h);

    /* W3: "wacky" size and timeout are stored as given. */
    h = CreateMailslotA(name, 0xFFFFFFFF, 0xFFFFFFFF, NULL);
    ERR();
    CHECK(h != INVALID_HANDLE_VALUE, "W3 CreateMailslotA(name, 0xFFFFFFFF, 0xFFFFFFFF) succeeds");
    max = next = count = timeout = 0;
    ok = GetMailslotInfo(h, &max, &next, &count, &timeout);
    ERR();
    CHECK(ok, "W3 GetMailslotInfo succeeds");
    CHECK(max == 0xFFFFFFFF, "W3 max message size is 0xFFFFFFFF (stored as given)");
    CHECK(next == MAILSLOT_NO_MESSAGE, "W3 next size is MAILSLOT_NO_MESSAGE");
    CHECK(count == 0, "W3 message count is 0");
    CHECK(timeout == MAILSLOT_WAIT_FOREVER, "W3 read timeout is MAILSLOT_WAIT_FOREVER");
    CHECK(GetMailslotInfo(h, NULL, NULL, NULL, NULL), "W3/W36 GetMailslotInfo with every output NULL succeeds");
    CHECK(CloseHandle(h), "W3 CloseHandle(server)");

    /* W4 */
    h = CreateMailslotA(name, 0, 0, NULL);
    ERR();
    CHECK(h != INVALID_HANDLE_VALUE, "W4/W5 CreateMailslotA(name, 0, 0) succeeds again after the close (W5)");
    max = next = count = timeout = 0x55555555;
    ok = GetMailslotInfo(h, &max, &next, &count, &timeout);
    ERR();
    CHECK(ok && max == 0 && next == MAILSLOT_NO_MESSAGE && count == 0 && timeout == 0,
          "W4 GetMailslotInfo: max 0, next MAILSLOT_NO_MESSAGE, count 0, timeout 0");

    /* W6: the error is not asserted by Wine's test; Windows and Wine map STATUS_OBJECT_NAME_COLLISION to 183. */
    SetLastError(0xdeadbeef);
    h2 = CreateMailslotA(name, 0, 0, NULL);
    e = ERR();
    CHECK(h2 == INVALID_HANDLE_VALUE, "W6 CreateMailslotA of a name whose server is open fails");
    CHECK(e == ERROR_ALREADY_EXISTS, "W6 ... with ERROR_ALREADY_EXISTS (183)");
    close_if(h2);

    /* W7: names match case-insensitively (prefix and path alike). */
    upcase(upper, name);
    SetLastError(0xdeadbeef);
    h2 = CreateMailslotA(upper, 0, 0, NULL);
    e = ERR();
    CHECK(h2 == INVALID_HANDLE_VALUE && e == ERROR_ALREADY_EXISTS, "W7 CreateMailslotA(upper-case name) collides (183)");
    close_if(h2);
    c = open_client(upper, GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE);
    ERR();
    CHECK(c != INVALID_HANDLE_VALUE, "W7 CreateFileA(upper-case name) opens the mailslot");
    n = 0;
    ok = WriteFile(c, "case", 4, &n, NULL);
    ERR();
    CHECK(ok && n == 4, "W7 WriteFile through the upper-case client");
    n = 0;
    memset(buf, 0, sizeof buf);
    ok = ReadFile(h, buf, sizeof buf, &n, NULL);
    ERR();
    CHECK(ok && n == 4 && memcmp(buf, "case", 4) == 0, "W7 the server reads what the upper-case client wrote");
    close_if(c);
    CHECK(CloseHandle(h), "W5 CloseHandle(server)");

    /* W5 */
    h = CreateMailslotA(name, 0, 0, NULL);
    ERR();
    CHECK(h != INVALID_HANDLE_VALUE, "W5 create, close, create the same name again: the second create succeeds");
    close_if(h);

    /* W8: Wine's kernelbase refuses NT names of MAX_PATH (260) characters or more. \\.\mailslot\x and
     * \??\mailslot\x have the same length, so a Win32 name of 259 characters is the longest accepted. */
    {
        size_t base = strlen(g_prefix) + 1;
        static const size_t lengths[] = {259, 260, 300, 1000};
        size_t i;
        if (base + 8 > 259) {
            printf("  note: W8 skipped: prefix too long for a 259-character name\n");
        } else {
            for (i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
                char longname[NAME_MAX_CHARS + 8];
                size_t len = lengths[i], j;
                if (len >= sizeof longname) continue;
                snprintf(longname, sizeof longname, "%s\\", g_prefix);
                for (j = base; j < len; j++) longname[j] = (char)('a' + j % 26);
                longname[len] = 0;
                SetLastError(0xdeadbeef);
                h = CreateMailslotA(longname, 0, 0, NULL);
                e = ERR();
                if (len < MAX_PATH) {
                    snprintf(msg, sizeof msg, "W8 a %u-character name (under MAX_PATH) is accepted", (unsigned)len);
                    CHECK(h != INVALID_HANDLE_VALUE, msg);
                } else {
                    snprintf(msg, sizeof msg, "W8 a %u-character name fails with ERROR_FILENAME_EXCED_RANGE (206)", (unsigned)len);
                    CHECK(h == INVALID_HANDLE_VALUE && e == ERROR_FILENAME_EXCED_RANGE, msg);
                }
                close_if(h);
            }
        }
    }
}

/* ---- W9: NT name limits (om.c test_name_limits, mailslot part) --------------------------------- */

static void test_nt_names(void)
{
    enum { CHARS = 65536 / 2 };
    HANDLE const bad_root = (HANDLE)(uintptr_t)0xdeadbeef;
    char16_t head[NAME_MAX_CHARS + 64], w[NAME_MAX_CHARS + 64];
    char name[NAME_MAX_CHARS], upper[NAME_MAX_CHARS], msg[200];
    UNICODE_STRING str;
    OBJECT_ATTRIBUTES attr, attr2, attr3;
    IO_STATUS_BLOCK io;
    LARGE_INTEGER zero;
    unsigned char buf[16];
    char16_t *buffer;
    size_t headlen, i;
    USHORT short_len;
    HANDLE h, h2, c;
    NTSTATUS st;
    DWORD n, e;
    BOOL ok;

    section("W9 NT name limits");
    /* om.c uses \Device\MailSlot\ followed by 'a's; the head keeps our names unique to this run. */
    make_nt_name(head, "\\Device\\MailSlot\\", "ntlimits-");
    headlen = wlen(head);
    buffer = malloc((CHARS + 1) * sizeof(char16_t));
    if (!buffer) {
        CHECK(0, "W9 out of memory");
        return;
    }
    for (i = 0; i < CHARS; i++) buffer[i] = i < headlen ? head[i] : u'a';
    buffer[CHARS] = 0;
    RtlInitUnicodeString(&str, buffer);
    str.MaximumLength = 65534;
    InitializeObjectAttributes(&attr, &str, OBJ_CASE_INSENSITIVE, NULL, NULL);
    InitializeObjectAttributes(&attr2, &str, 0, bad_root, NULL);
    InitializeObjectAttributes(&attr3, &str, 0, NULL, NULL);

    str.Length = 0;
    h = INVALID_HANDLE_VALUE;
    st = NT(NtCreateMailslotFile(&h, GENERIC_ALL, &attr, &io, 0, 0, 0, NULL));
    CHECK(st_is(st, STATUS_OBJECT_PATH_SYNTAX_BAD), "W9 zero-length name, no root: STATUS_OBJECT_PATH_SYNTAX_BAD");
    if (NT_SUCCESS(st)) CloseHandle(h);

    st = NT(NtCreateMailslotFile(&h, GENERIC_ALL, &attr2, &io, 0, 0, 0, NULL));
    CHECK(st_is(st, STATUS_INVALID_HANDLE), "W9 zero-length name, bad RootDirectory: STATUS_INVALID_HANDLE");
    if (NT_SUCCESS(st)) CloseHandle(h);

    /* om.c passes the odd length with the bad root: the length is checked before the handle. */
    str.Length = 67;
    st = NT(NtCreateMailslotFile(&h, GENERIC_ALL, &attr2, &io, 0, 0, 0, NULL));
    CHECK(st_is(st, STATUS_OBJECT_NAME_INVALID), "W9 odd name length (67 bytes): STATUS_OBJECT_NAME_INVALID");
    if (NT_SUCCESS(st)) CloseHandle(h);

    /* om.c: a 128-byte name, every OBJECT_ATTRIBUTES.Length from 0 to 2 * sizeof. */
    short_len = 128;
    if (headlen * 2 + 16 > short_len) short_len = (USHORT)(headlen * 2 + 16);
    str.Length = short_len;
    {
        int wrong = 0, created = 0;
        ULONG first_len = 0;
        NTSTATUS first_status = 0;
        for (attr.Length = 0; attr.Length <= 2 * sizeof(attr); attr.Length++) {
            st = NtCreateMailslotFile(&h, GENERIC_ALL, &attr, &io, 0, 0, 0, NULL);
            if (attr.Length == sizeof(attr)) {
                g_status = st;
                created = NT_SUCCESS(st);
                if (created) CloseHandle(h);
            } else if (!st_is(st, STATUS_INVALID_PARAMETER)) {
                if (!wrong++) {
                    first_len = attr.Length;
                    first_status = st;
                }
                if (NT_SUCCESS(st)) CloseHandle(h);
            }
        }
        attr.Length = sizeof(attr);
        CHECK(created, "W9 OBJECT_ATTRIBUTES.Length == sizeof, 128-byte name: success");
        snprintf(msg, sizeof msg,
                 "W9 OBJECT_ATTRIBUTES.Length other than sizeof (0..2*sizeof): STATUS_INVALID_PARAMETER "
                 "(%d wrong, first at Length %u: 0x%08x)",
                 wrong, (unsigned)first_len, (unsigned)first_status);
        CHECK(wrong == 0, msg);
    }

    str.Length = 65532;
    st = NT(NtCreateMailslotFile(&h, GENERIC_ALL, &attr, &io, 0, 0, 0, NULL));
    CHECK(NT_SUCCESS(st), "W9 a 65532-byte name: success");
    if (NT_SUCCESS(st)) CloseHandle(h);

    str.Length = 65534;
    st = NT(NtCreateMailslotFile(&h, GENERIC_ALL, &attr, &io, 0, 0, 0, NULL));
    CHECK(st_is(st, STATUS_OBJECT_NAME_INVALID), "W9 a 65534-byte name: STATUS_OBJECT_NAME_INVALID");
    if (NT_SUCCESS(st)) CloseHandle(h);

    attr3.RootDirectory = NULL;
    attr2.ObjectName = attr3.ObjectName = NULL;
    st = NT(NtCreateMailslotFile(&h, GENERIC_ALL, &attr2, &io, 0, 0, 0, NULL));
    CHECK(st_is(st, STATUS_OBJECT_NAME_INVALID), "W9 NULL ObjectName with a RootDirectory: STATUS_OBJECT_NAME_INVALID");
    if (NT_SUCCESS(st)) CloseHandle(h);
    st = NT(NtCreateMailslotFile(&h, GENERIC_ALL, &attr3, &io, 0, 0, 0, NULL));
    CHECK(st_is(st, STATUS_OBJECT_PATH_SYNTAX_BAD), "W9 NULL ObjectName, no root: STATUS_OBJECT_PATH_SYNTAX_BAD");
    if (NT_SUCCESS(st)) CloseHandle(h);
    st = NT(NtCreateMailslotFile(&h, GENERIC_ALL, NULL, &io, 0, 0, 0, NULL));
    CHECK(st_is(st, STATUS_INVALID_PARAMETER), "W9 NULL OBJECT_ATTRIBUTES: STATUS_INVALID_PARAMETER");
    if (NT_SUCCESS(st)) CloseHandle(h);
    free(buffer);

    /* The NT spelling of \\.\mailslot\x is \??\MAILSLOT\x (or \Device\Mailslot\x): one object, any case. */
    section("W9 NT name forms");
    zero.QuadPart = 0;
    make_nt_name(w, "\\??\\MAILSLOT\\", "ntform1");
    st = nt_create(&h, GENERIC_READ | SYNCHRONIZE, w, FILE_SYNCHRONOUS_IO_NONALERT, 0, &zero);
    CHECK(NT_SUCCESS(st), "W9 NtCreateMailslotFile(\\??\\MAILSLOT\\...) succeeds");
    make_name(name, "ntform1");
    upcase(upper, name);
    SetLastError(0xdeadbeef);
    h2 = CreateMailslotA(upper, 0, 0, NULL);
    e = ERR();
    CHECK(h2 == INVALID_HANDLE_VALUE && e == ERROR_ALREADY_EXISTS,
          "W9/W7 CreateMailslotA(\\\\.\\MAILSLOT\\...) collides with the NT-created mailslot (183)");
    close_if(h2);
    st = nt_create(&h2, GENERIC_READ | SYNCHRONIZE, w, FILE_SYNCHRONOUS_IO_NONALERT, 0, &zero);
    CHECK(st_is(st, STATUS_OBJECT_NAME_COLLISION), "W9/W6 NtCreateMailslotFile of an existing name: STATUS_OBJECT_NAME_COLLISION");
    if (NT_SUCCESS(st)) CloseHandle(h2);
    c = open_client(name, GENERIC_WRITE, FILE_SHARE_READ);
    ERR();
    CHECK(c != INVALID_HANDLE_VALUE, "W9 CreateFileA(\\\\.\\mailslot\\...) opens the NT-created mailslot");
    n = 0;
    ok = WriteFile(c, "nt", 2, &n, NULL);
    ERR();
    CHECK(ok && n == 2, "W9 WriteFile to the NT-created mailslot");
    n = 0;
    memset(buf, 0, sizeof buf);
    ok = ReadFile(h, buf, sizeof buf, &n, NULL);
    ERR();
    CHECK(ok && n == 2 && memcmp(buf, "nt", 2) == 0, "W9 ReadFile on the NT-created server gets the message");
    close_if(c);
    close_if(h);

    make_nt_name(w, "\\Device\\Mailslot\\", "ntform2");
    st = nt_create(&h, GENERIC_READ | SYNCHRONIZE, w, FILE_SYNCHRONOUS_IO_NONALERT, 0, &zero);
    CHECK(NT_SUCCESS(st), "W9 NtCreateMailslotFile(\\Device\\Mailslot\\...) succeeds");
    make_nt_name(w, "\\??\\mailslot\\", "NTFORM2");
    st = nt_create(&h2, GENERIC_READ | SYNCHRONIZE, w, FILE_SYNCHRONOUS_IO_NONALERT, 0, &zero);
    CHECK(st_is(st, STATUS_OBJECT_NAME_COLLISION), "W9 \\Device\\Mailslot\\x and \\??\\mailslot\\X name one object");
    if (NT_SUCCESS(st)) CloseHandle(h2);
    make_name(name, "ntform2");
    c = open_client(name, GENERIC_WRITE, FILE_SHARE_READ);
    ERR();
    CHECK(c != INVALID_HANDLE_VALUE, "W9 CreateFileA opens the \\Device\\Mailslot\\ mailslot");
    close_if(c);
    close_if(h);
}

/* ---- W10-W33, W35-W38, W40-W43: clients, synchronous reads and writes, information ------------ */

static void test_sync_layer(void)
{
    char name[NAME_MAX_CHARS], missing[NAME_MAX_CHARS];
    unsigned char buf[16];
    FILE_MAILSLOT_QUERY_INFORMATION qi;
    IO_STATUS_BLOCK io;
    DWORD count, max, next, msgs, timeout, e, t0;
    HANDLE server, writer, writer2, c;
    NTSTATUS st;
    BOOL ok;

    section("W10-W15 clients");
    make_name(name, "sync");
    make_name(missing, "no-such-slot");

    /* W10: Windows gives ERROR_FILE_NOT_FOUND (the sheet does not assert the error; we do, as Windows). */
    SetLastError(0xdeadbeef);
    c = open_client(missing, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ);
    e = ERR();
    CHECK(c == INVALID_HANDLE_VALUE, "W10 opening a mailslot that does not exist fails");
    CHECK(e == ERROR_FILE_NOT_FOUND, "W10 ... with ERROR_FILE_NOT_FOUND (2)");
    close_if(c);

    server = CreateMailslotA(name, 0, 0, NULL);
    ERR();
    CHECK(server != INVALID_HANDLE_VALUE, "W16 CreateMailslotA(name, 0, 0)");

    section("W16-W24 synchronous reads and writes");
    /* W16 */
    count = 0xdeadbeef;
    SetLastError(0xdeadbeef);
    ok = ReadFile(INVALID_HANDLE_VALUE, buf, 0, &count, NULL);
    e = ERR();
    CHECK(!ok && e == ERROR_INVALID_HANDLE, "W16 ReadFile(INVALID_HANDLE_VALUE) fails with ERROR_INVALID_HANDLE (6)");
    CHECK(count == 0, "W16 ... and sets *read = 0");

    /* W17 */
    count = 0xdeadbeef;
    SetLastError(0xdeadbeef);
    ok = ReadFile(server, buf, 0, &count, NULL);
    e = ERR();
    CHECK(!ok && e == ERROR_SEM_TIMEOUT, "W17 ReadFile(server, 0 bytes), empty, timeout 0: ERROR_SEM_TIMEOUT (121)");
    CHECK(count == 0, "W17 ... and sets *read = 0");

    /* W18 */
    count = 0xdeadbeef;
    t0 = GetTickCount();
    ok = ReadFile(server, buf, sizeof buf, &count, NULL);
    e = ERR();
    CHECK(!ok && e == ERROR_SEM_TIMEOUT, "W18 ReadFile(server, 16), empty, timeout 0: ERROR_SEM_TIMEOUT");
    CHECK(since(t0) < 500, "W18 ... at once (under 500 ms)");
    CHECK(count == 0, "W18 ... and sets *read = 0");

    /* W19 */
    SetLastError(0xdeadbeef);
    ok = WriteFile(server, buf, sizeof buf, &count, NULL);
    e = ERR();
    CHECK(!ok && e == ERROR_ACCESS_DENIED, "W19 WriteFile(server) fails with ERROR_ACCESS_DENIED (5)");

    /* W41, W42: the same through the NT layer; the IOSB is not written. */
    iosb_prefill(&io);
    st = NT(NtReadFile(server, NULL, NULL, NULL, &io, buf, sizeof buf, NULL, NULL));
    CHECK(st_is(st, STATUS_IO_TIMEOUT), "W41 NtReadFile(server), empty, timeout 0: STATUS_IO_TIMEOUT");
    CHECK(iosb_untouched(&io), "W41 ... IOSB untouched");
    iosb_prefill(&io);
    st = NT(NtWriteFile(server, NULL, NULL, NULL, &io, buf, sizeof buf, NULL, NULL));
    CHECK(st_is(st, STATUS_ACCESS_DENIED), "W42 NtWriteFile(server, sync handle): STATUS_ACCESS_DENIED");
    CHECK(iosb_untouched(&io), "W42 ... IOSB untouched");

    /* W11: Vista and later accept share mode 0 (XP refused with ERROR_SHARING_VIOLATION). */
    c = open_client(name, GENERIC_WRITE, 0);
    ERR();
    CHECK(c != INVALID_HANDLE_VALUE, "W11 CreateFileA(GENERIC_WRITE, share 0) succeeds (Vista and later)");
    close_if(c);

    /* W12 */
    writer = open_client(name, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ);
    ERR();
    CHECK(writer != INVALID_HANDLE_VALUE, "W12 CreateFileA(GENERIC_READ|GENERIC_WRITE, FILE_SHARE_READ) gives a client");

    /* W20 */
    ok = ReadFile(server, buf, sizeof buf / 2, &count, NULL);
    e = ERR();
    CHECK(!ok && e == ERROR_SEM_TIMEOUT, "W20 with a client open, server reads still time out (121)");
    ok = WriteFile(server, buf, sizeof buf / 2, &count, NULL);
    e = ERR();
    CHECK(!ok && e == ERROR_ACCESS_DENIED, "W20 with a client open, server writes are still ERROR_ACCESS_DENIED");

    /* W21: current Windows gives ERROR_INVALID_PARAMETER (ERROR_ACCESS_DENIED was older Windows). */
    SetLastError(0xdeadbeef);
    ok = ReadFile(writer, buf, sizeof buf / 2, &count, NULL);
    e = ERR();
    CHECK(!ok && e == ERROR_INVALID_PARAMETER, "W21 ReadFile(client) fails with ERROR_INVALID_PARAMETER (87)");

    /* W22 */
    memcpy(buf, "eightby!", 8);
    count = 0;
    ok = WriteFile(writer, buf, 8, &count, NULL);
    ERR();
    CHECK(ok && count == 8, "W22 WriteFile(client, 8 bytes) succeeds, 8 written");

    SetLastError(0xdeadbeef);
    ok = ReadFile(writer, buf, sizeof buf / 2, &count, NULL);
    e = ERR();
    CHECK(!ok && e == ERROR_INVALID_PARAMETER, "W21 ReadFile(client) still fails (87) with data queued");

    /* W43: Windows; Wine todo. */
    iosb_prefill(&io);
    st = NT(NtReadFile(writer, NULL, NULL, NULL, &io, buf, sizeof buf, NULL, NULL));
    CHECK(st_is(st, STATUS_INVALID_PARAMETER), "W43 NtReadFile(client): STATUS_INVALID_PARAMETER");
    CHECK(iosb_untouched(&io), "W43 ... IOSB untouched");

    /* W23 */
    memset(buf, 0, sizeof buf);
    count = 0;
    ok = ReadFile(server, buf, sizeof buf, &count, NULL);
    ERR();
    CHECK(ok && count == 8 && memcmp(buf, "eightby!", 8) == 0, "W23 ReadFile(server, 16) gets the whole 8-byte message");

    /* W24 */
    ok = ReadFile(server, buf, sizeof buf, &count, NULL);
    e = ERR();
    CHECK(!ok && e == ERROR_SEM_TIMEOUT, "W24 reading again: ERROR_SEM_TIMEOUT (the slot is empty)");

    /* W13: Vista and later: more clients with FILE_SHARE_READ only, whatever their access. */
    c = open_client(name, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ);
    ERR();
    CHECK(c != INVALID_HANDLE_VALUE, "W13 a second client (R/W, FILE_SHARE_READ) while one is open succeeds");
    close_if(c);
    c = open_client(name, GENERIC_READ, FILE_SHARE_READ);
    ERR();
    CHECK(c != INVALID_HANDLE_VALUE, "W13 a second client (GENERIC_READ, FILE_SHARE_READ) succeeds");
    /* W15: client handles get write access only; one opened for reading alone cannot write. (Chosen: the
     * NT I/O manager refuses NtWriteFile on a handle without FILE_WRITE_DATA with STATUS_ACCESS_DENIED.) */
    if (c != INVALID_HANDLE_VALUE) {
        SetLastError(0xdeadbeef);
        ok = WriteFile(c, "r", 1, &count, NULL);
        e = ERR();
        CHECK(!ok && e == ERROR_ACCESS_DENIED, "W15 WriteFile on a GENERIC_READ-only client: ERROR_ACCESS_DENIED");
    }
    close_if(c);
    c = open_client(name, GENERIC_WRITE, FILE_SHARE_READ);
    ERR();
    CHECK(c != INVALID_HANDLE_VALUE, "W13 a second client (GENERIC_WRITE, FILE_SHARE_READ) succeeds");
    close_if(c);

    /* W6 again, with clients open. */
    c = CreateMailslotA(name, 0, 0, NULL);
    e = ERR();
    CHECK(c == INVALID_HANDLE_VALUE && e == ERROR_ALREADY_EXISTS, "W6 a second server for an open name fails (183)");
    close_if(c);

    CHECK(CloseHandle(writer), "W12 CloseHandle(client)");

    /* W14 */
    writer = open_client(name, GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE);
    ERR();
    CHECK(writer != INVALID_HANDLE_VALUE, "W14 client (GENERIC_WRITE, FILE_SHARE_READ|FILE_SHARE_WRITE)");
    c = open_client(name, GENERIC_WRITE, FILE_SHARE_READ);
    ERR();
    CHECK(c != INVALID_HANDLE_VALUE, "W13 a client that does not share writing, beside a sharing one, succeeds (Vista)");
    close_if(c);
    writer2 = open_client(name, GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE);
    ERR();
    CHECK(writer2 != INVALID_HANDLE_VALUE, "W14 a second sharing client succeeds");

    max = next = msgs = timeout = 0x55555555;
    ok = GetMailslotInfo(server, &max, &next, &msgs, &timeout);
    ERR();
    CHECK(ok && next == MAILSLOT_NO_MESSAGE && max == 0 && msgs == 0 && timeout == 0,
          "W4 GetMailslotInfo with two clients: next NO_MESSAGE, max 0, count 0, timeout 0");
    ok = ReadFile(server, buf, sizeof buf, &count, NULL);
    e = ERR();
    CHECK(!ok && e == ERROR_SEM_TIMEOUT, "W24 still no data: ERROR_SEM_TIMEOUT");

    section("W25-W32 message queue");
    /* W25 */
    count = 0;
    ok = WriteFile(writer, "a", 1, &count, NULL);
    ERR();
    CHECK(ok && count == 1, "W25 write \"a\" through client 1");
    CHECK(info_is(server, 1, 1), "W25 GetMailslotInfo: next 1, count 1");
    /* W26 */
    count = 0;
    ok = WriteFile(writer2, "bc", 2, &count, NULL);
    ERR();
    CHECK(ok && count == 2, "W26 write \"bc\" through client 2");
    CHECK(info_is(server, 1, 2), "W26 GetMailslotInfo: next 1 (the head), count 2");
    /* W27 */
    count = 0xdeadbeef;
    ok = WriteFile(writer2, "bc", 0, &count, NULL);
    ERR();
    CHECK(ok && count == 0, "W27 a zero-length WriteFile succeeds, 0 written");
    CHECK(info_is(server, 1, 3), "W27 GetMailslotInfo: next 1, count 3 (a 0-byte message is a message)");
    /* W28 */
    memset(buf, 0, sizeof buf);
    count = 0;
    ok = ReadFile(server, buf, sizeof buf, &count, NULL);
    ERR();
    CHECK(ok && count == 1 && buf[0] == 'a', "W28 first read: 1 byte, \"a\" (FIFO)");
    CHECK(info_is(server, 2, 2), "W28 GetMailslotInfo: next 2, count 2");
    /* W29 */
    memset(buf, 0, sizeof buf);
    count = 0;
    ok = ReadFile(server, buf, sizeof buf, &count, NULL);
    ERR();
    CHECK(ok && count == 2 && buf[0] == 'b' && buf[1] == 'c', "W29 second read: 2 bytes, \"bc\"");
    CHECK(info_is(server, 0, 1), "W29 GetMailslotInfo: next 0 (a zero-length message at the head), count 1");
    /* W30 */
    count = 0xdeadbeef;
    ok = ReadFile(server, buf, sizeof buf, &count, NULL);
    ERR();
    CHECK(ok && count == 0, "W30 third read succeeds with 0 bytes (the zero-length message)");
    /* W31 */
    CHECK(info_is(server, MAILSLOT_NO_MESSAGE, 0), "W31 GetMailslotInfo on the empty slot: next NO_MESSAGE, count 0");
    ok = ReadFile(server, buf, sizeof buf, &count, NULL);
    e = ERR();
    CHECK(!ok && e == ERROR_SEM_TIMEOUT, "W31 a further read: ERROR_SEM_TIMEOUT");

    /* W32: one FIFO queue across writers, boundaries kept. */
    {
        static const char *const msgs_in[] = {"x1", "y22", "x333", "y4444"};
        HANDLE const via[] = {writer, writer2, writer, writer2};
        int all_written = 1, in_order = 1;
        size_t i;
        for (i = 0; i < 4; i++) {
            DWORD len = (DWORD)strlen(msgs_in[i]);
            count = 0;
            if (!WriteFile(via[i], msgs_in[i], len, &count, NULL) || count != len) all_written = 0;
        }
        ERR();
        CHECK(all_written, "W32 four writes through two clients");
        for (i = 0; i < 4; i++) {
            DWORD len = (DWORD)strlen(msgs_in[i]);
            memset(buf, 0, sizeof buf);
            count = 0;
            if (!ReadFile(server, buf, sizeof buf, &count, NULL) || count != len || memcmp(buf, msgs_in[i], len) != 0) {
                if (in_order) printf("  note: W32 read %u: %u bytes \"%.*s\", expected \"%s\"\n", (unsigned)i, (unsigned)count,
                                     (int)(count < sizeof buf ? count : sizeof buf), (const char *)buf, msgs_in[i]);
                in_order = 0;
            }
        }
        ERR();
        CHECK(in_order, "W32 messages from several writers come out in write order, boundaries kept");
    }

    section("W33 too-small buffer");
    /* W33 */
    count = 0;
    ok = WriteFile(writer, "bc", 2, &count, NULL);
    ERR();
    CHECK(ok && count == 2, "W33 write 2 bytes");
    iosb_prefill(&io);
    st = NT(NtReadFile(server, NULL, NULL, NULL, &io, buf, 1, NULL, NULL));
    CHECK(st_is(st, STATUS_BUFFER_TOO_SMALL), "W33 NtReadFile with a 1-byte buffer: STATUS_BUFFER_TOO_SMALL");
    CHECK(iosb_untouched(&io), "W33 ... IOSB not written");
    CHECK(info_is(server, 2, 1), "W33 ... the message stays queued: next 2, count 1");
    SetLastError(0xdeadbeef);
    count = 0xdeadbeef;
    ok = ReadFile(server, buf, 1, &count, NULL);
    e = ERR();
    CHECK(!ok && e == ERROR_INSUFFICIENT_BUFFER, "W33 ReadFile with a 1-byte buffer: ERROR_INSUFFICIENT_BUFFER (122)");
    CHECK(info_is(server, 2, 1), "W33 ... the message still stays: next 2, count 1");

    section("W37-W38, W40 information classes");
    /* W37 */
    iosb_prefill(&io);
    memset(&qi, 0xcc, sizeof qi);
    st = NT(NtQueryInformationFile(server, &io, &qi, sizeof qi, FileMailslotQueryInformation));
    CHECK(st_is(st, STATUS_SUCCESS), "W37 NtQueryInformationFile(server, FileMailslotQueryInformation): STATUS_SUCCESS");
    CHECK(sizeof qi == 24, "W37 sizeof(FILE_MAILSLOT_QUERY_INFORMATION) == 24");
    CHECK(st_is(io.Status, STATUS_SUCCESS) && io.Information == sizeof qi, "W37 IOSB: Status 0, Information 24");
    CHECK(qi.MaximumMessageSize == 0, "W37 MaximumMessageSize 0");
    CHECK(qi.MailslotQuota == 0, "W37 MailslotQuota 0");
    CHECK(qi.NextMessageSize == 2, "W37 NextMessageSize 2");
    CHECK(qi.MessagesAvailable == 1, "W37 MessagesAvailable 1");
    CHECK(qi.ReadTimeout.QuadPart == 0, "W37 ReadTimeout 0");

    /* W38: Windows 8 and later answer on a client handle too, with the same values. */
    iosb_prefill(&io);
    memset(&qi, 0xcc, sizeof qi);
    st = NT(NtQueryInformationFile(writer, &io, &qi, sizeof qi, FileMailslotQueryInformation));
    CHECK(st_is(st, STATUS_SUCCESS), "W38 NtQueryInformationFile(client): STATUS_SUCCESS (Windows 8 and later)");
    CHECK(st_is(io.Status, STATUS_SUCCESS) && io.Information == sizeof qi, "W38 IOSB: Status 0, Information 24");
    CHECK(qi.MaximumMessageSize == 0 && qi.MailslotQuota == 0 && qi.NextMessageSize == 2 && qi.MessagesAvailable == 1 &&
              qi.ReadTimeout.QuadPart == 0,
          "W38 the client sees the server's values (max 0, quota 0, next 2, count 1, timeout 0)");
    max = next = msgs = timeout = 0x55555555;
    ok = GetMailslotInfo(writer, &max, &next, &msgs, &timeout);
    ERR();
    CHECK(ok && max == 0 && next == 2 && msgs == 1 && timeout == 0, "W38 GetMailslotInfo works on a client handle");

    /* W40: the Wine server's answer (ReactOS gives STATUS_BUFFER_OVERFLOW). */
    iosb_prefill(&io);
    st = NT(NtQueryInformationFile(server, &io, &qi, sizeof qi - 1, FileMailslotQueryInformation));
    CHECK(st_is(st, STATUS_INFO_LENGTH_MISMATCH), "W40 query with a buffer one byte short: STATUS_INFO_LENGTH_MISMATCH");
    iosb_prefill(&io);
    st = NT(NtQueryInformationFile(server, &io, &qi, 0, FileMailslotQueryInformation));
    CHECK(st_is(st, STATUS_INFO_LENGTH_MISMATCH), "W40 query with a zero-length buffer: STATUS_INFO_LENGTH_MISMATCH");

    memset(buf, 0, sizeof buf);
    count = 0;
    ok = ReadFile(server, buf, sizeof buf, &count, NULL);
    ERR();
    CHECK(ok && count == 2 && memcmp(buf, "bc", 2) == 0, "W33 the message kept by the short reads is read whole afterwards");

    section("W35-W36");
    /* W36 */
    CHECK(GetMailslotInfo(server, NULL, NULL, NULL, NULL), "W36 GetMailslotInfo(server, NULL, NULL, NULL, NULL) succeeds");
    /* W35: the sheet asserts only the failure. On Windows INVALID_HANDLE_VALUE is the process pseudo-handle,
     * whose STATUS_OBJECT_TYPE_MISMATCH maps to ERROR_INVALID_HANDLE; we expect 6. */
    max = next = msgs = timeout = 0;
    SetLastError(0xdeadbeef);
    ok = GetMailslotInfo(INVALID_HANDLE_VALUE, &max, &next, &msgs, &timeout);
    e = ERR();
    CHECK(!ok, "W35 GetMailslotInfo(INVALID_HANDLE_VALUE) fails");
    CHECK(e == ERROR_INVALID_HANDLE, "W35 ... with ERROR_INVALID_HANDLE (6)");

    /* Lifetime: messages belong to the mailslot, not to the writer that wrote them. */
    count = 0;
    ok = WriteFile(writer2, "kept", 4, &count, NULL);
    ERR();
    CHECK(ok && count == 4, "lifetime: write through client 2");
    CHECK(CloseHandle(writer2), "W14 CloseHandle(client 2)");
    memset(buf, 0, sizeof buf);
    count = 0;
    ok = ReadFile(server, buf, sizeof buf, &count, NULL);
    ERR();
    CHECK(ok && count == 4 && memcmp(buf, "kept", 4) == 0, "lifetime: a writer's close does not drop its queued message");

    CHECK(CloseHandle(writer), "W14 CloseHandle(client 1)");
    CHECK(CloseHandle(server), "CloseHandle(server)");

    /* W5: the name is free once every handle has closed. */
    server = CreateMailslotA(name, 0, 0, NULL);
    ERR();
    CHECK(server != INVALID_HANDLE_VALUE, "W5 the name is free again after every handle closed");
    CHECK(info_is(server, MAILSLOT_NO_MESSAGE, 0), "W5 the re-created mailslot starts empty");
    close_if(server);
}

/* ---- W34, W39: timeouts ------------------------------------------------------------------------- */

static void test_timeouts(void)
{
    char name[NAME_MAX_CHARS], name2[NAME_MAX_CHARS];
    unsigned char buf[16];
    FILE_MAILSLOT_QUERY_INFORMATION qi;
    FILE_MAILSLOT_SET_INFORMATION si;
    IO_STATUS_BLOCK io;
    LARGE_INTEGER li;
    DWORD count, max, next, msgs, timeout, e, t0, dt;
    HANDLE h, c;
    NTSTATUS st;
    BOOL ok;

    section("W34, W39 timeouts");
    make_name(name, "timeout");
    make_name(name2, "timeout2");

    h = CreateMailslotA(name, 0, 1000, NULL);
    ERR();
    CHECK(h != INVALID_HANDLE_VALUE, "W34 CreateMailslotA(name, 0, 1000)");

    /* W39: kernelbase converts milliseconds to relative NT time (ms * -10000) and back. */
    CHECK(query_info(h, &qi), "W39 NtQueryInformationFile on a 1000 ms mailslot");
    CHECK(qi.ReadTimeout.QuadPart == -10000000LL, "W39 a 1000 ms timeout is ReadTimeout -10000000 (ms * -10000)");
    timeout = 0;
    ok = GetMailslotInfo(h, NULL, NULL, NULL, &timeout);
    ERR();
    CHECK(ok && timeout == 1000, "W39 GetMailslotInfo gives the 1000 ms back");

    /* W34 */
    count = 0xdeadbeef;
    t0 = GetTickCount();
    ok = ReadFile(h, buf, sizeof buf, &count, NULL);
    e = ERR();
    dt = since(t0);
    CHECK(!ok && e == ERROR_SEM_TIMEOUT, "W34 ReadFile on the empty 1000 ms mailslot fails with ERROR_SEM_TIMEOUT");
    CHECK(dt >= 900, "W34 ... after at least 900 ms");
    CHECK(dt < 3000, "W34 ... and not much more than the timeout (under 3 s)");

    /* W39: MAILSLOT_WAIT_FOREVER <-> 0x7FFFFFFFFFFFFFFF, both ways. */
    ok = SetMailslotInfo(h, MAILSLOT_WAIT_FOREVER);
    ERR();
    CHECK(ok, "W39 SetMailslotInfo(MAILSLOT_WAIT_FOREVER)");
    CHECK(query_info(h, &qi) && qi.ReadTimeout.QuadPart == FOREVER_NT, "W39 MAILSLOT_WAIT_FOREVER is ReadTimeout 0x7FFFFFFFFFFFFFFF");
    timeout = 0;
    ok = GetMailslotInfo(h, NULL, NULL, NULL, &timeout);
    ERR();
    CHECK(ok && timeout == MAILSLOT_WAIT_FOREVER, "W39 GetMailslotInfo gives MAILSLOT_WAIT_FOREVER back");

    ok = SetMailslotInfo(h, 200);
    ERR();
    CHECK(ok, "W39 SetMailslotInfo(200)");
    CHECK(query_info(h, &qi) && qi.ReadTimeout.QuadPart == -2000000LL, "W39 SetMailslotInfo(200): ReadTimeout -2000000");
    t0 = GetTickCount();
    ok = ReadFile(h, buf, sizeof buf, &count, NULL);
    e = ERR();
    dt = since(t0);
    CHECK(!ok && e == ERROR_SEM_TIMEOUT && dt >= 180 && dt < 2500, "W39 the new 200 ms timeout applies to the next read");

    ok = SetMailslotInfo(h, 0);
    ERR();
    CHECK(ok && query_info(h, &qi) && qi.ReadTimeout.QuadPart == 0, "W39 SetMailslotInfo(0): ReadTimeout 0");
    close_if(h);

    /* W39: created with MAILSLOT_WAIT_FOREVER and a maximum size. */
    h = CreateMailslotA(name2, 123, MAILSLOT_WAIT_FOREVER, NULL);
    ERR();
    CHECK(h != INVALID_HANDLE_VALUE, "W39 CreateMailslotA(name, 123, MAILSLOT_WAIT_FOREVER)");
    CHECK(query_info(h, &qi) && qi.ReadTimeout.QuadPart == FOREVER_NT && qi.MaximumMessageSize == 123,
          "W39 created forever: ReadTimeout 0x7FFFFFFFFFFFFFFF, MaximumMessageSize 123");
    max = timeout = 0;
    ok = GetMailslotInfo(h, &max, NULL, NULL, &timeout);
    ERR();
    CHECK(ok && timeout == MAILSLOT_WAIT_FOREVER && max == 123, "W39 GetMailslotInfo round-trips MAILSLOT_WAIT_FOREVER");

    c = open_client(name2, GENERIC_WRITE, FILE_SHARE_READ);
    ERR();
    CHECK(c != INVALID_HANDLE_VALUE, "W39 client");
    count = 0;
    ok = WriteFile(c, "abc", 3, &count, NULL);
    ERR();
    CHECK(ok && count == 3, "W39 queue a 3-byte message");

    /* W39: NtSetInformationFile(FileMailslotSetInformation) changes the read timeout and nothing else. */
    li.QuadPart = -5000000LL;
    si.ReadTimeout = &li;
    iosb_prefill(&io);
    st = NT(NtSetInformationFile(h, &io, &si, sizeof si, FileMailslotSetInformation));
    CHECK(st_is(st, STATUS_SUCCESS), "W39 NtSetInformationFile(FileMailslotSetInformation, -5000000): STATUS_SUCCESS");
    max = next = msgs = timeout = 0x55555555;
    ok = GetMailslotInfo(h, &max, &next, &msgs, &timeout);
    ERR();
    CHECK(ok && timeout == 500, "W39 GetMailslotInfo converts ReadTimeout -5000000 back to 500 ms");
    CHECK(ok && max == 123 && next == 3 && msgs == 1, "W39 setting the timeout changes nothing else (max 123, next 3, count 1)");

    li.QuadPart = FOREVER_NT;
    st = NT(NtSetInformationFile(h, &io, &si, sizeof si, FileMailslotSetInformation));
    timeout = 0;
    ok = GetMailslotInfo(h, NULL, NULL, NULL, &timeout);
    ERR();
    CHECK(st_is(st, STATUS_SUCCESS) && ok && timeout == MAILSLOT_WAIT_FOREVER,
          "W39 ReadTimeout 0x7FFFFFFFFFFFFFFF set through the NT layer reads back as MAILSLOT_WAIT_FOREVER");

    ok = SetMailslotInfo(h, 1000);
    ERR();
    max = next = msgs = timeout = 0x55555555;
    CHECK(ok && GetMailslotInfo(h, &max, &next, &msgs, &timeout) && timeout == 1000 && max == 123 && next == 3 && msgs == 1,
          "W39 SetMailslotInfo(1000) round-trips and changes only the timeout");

    memset(buf, 0, sizeof buf);
    count = 0;
    ok = ReadFile(h, buf, sizeof buf, &count, NULL);
    ERR();
    CHECK(ok && count == 3 && memcmp(buf, "abc", 3) == 0, "W39 the queued message is intact after the timeout changes");

    SetLastError(0xdeadbeef);
    ok = SetMailslotInfo(INVALID_HANDLE_VALUE, 0);
    ERR();
    CHECK(!ok, "W39 SetMailslotInfo(INVALID_HANDLE_VALUE) fails");

    close_if(c);
    close_if(h);
}

/* ---- W44-W47: the asynchronous NT layer, and Win32 overlapped reads on an asynchronous handle --- */

static unsigned char g_abuf[64], g_bbuf[64], g_cbuf[64]; /* pending reads write here: keep them alive */

static void test_async(void)
{
    char name[NAME_MAX_CHARS];
    char16_t w[NAME_MAX_CHARS + 64];
    IO_STATUS_BLOCK io, ioa, iob;
    OVERLAPPED ov;
    HANDLE srv, client, eva, evb;
    DWORD count, e, r;
    NTSTATUS st;
    BOOL ok;

    section("W44 asynchronous server handle");
    make_name(name, "async");
    make_nt_name(w, "\\??\\MAILSLOT\\", "async");

    /* W44: options 0 = an asynchronous handle; NULL timeout = wait forever. */
    st = nt_create(&srv, GENERIC_READ | GENERIC_WRITE | SYNCHRONIZE, w, 0, 0, NULL);
    CHECK(NT_SUCCESS(st), "W44 NtCreateMailslotFile(GENERIC_READ|GENERIC_WRITE|SYNCHRONIZE, options 0, NULL timeout)");
    if (!NT_SUCCESS(st)) return;

    /* W44: write access granted, yet the server end refuses writes (Windows; Wine todo). */
    iosb_prefill(&io);
    st = NT(NtWriteFile(srv, NULL, NULL, NULL, &io, g_abuf, 16, NULL, NULL));
    CHECK(st_is(st, STATUS_INVALID_PARAMETER), "W44 NtWriteFile(server with write access): STATUS_INVALID_PARAMETER");
    CHECK(iosb_untouched(&io), "W44 ... IOSB untouched");
    SetLastError(0xdeadbeef);
    ok = WriteFile(srv, "x", 1, &count, NULL);
    e = ERR();
    CHECK(!ok && e == ERROR_INVALID_PARAMETER, "W44 WriteFile(server with write access): ERROR_INVALID_PARAMETER (87)");

    section("W45-W46 pending read completed by a later write");
    /* W45 */
    iosb_prefill(&io);
    memset(g_abuf, 0, sizeof g_abuf);
    st = NT(NtReadFile(srv, NULL, NULL, NULL, &io, g_abuf, 16, NULL, NULL));
    CHECK(st_is(st, STATUS_PENDING), "W45 NtReadFile(async server), empty: STATUS_PENDING");
    CHECK(iosb_untouched(&io), "W45 ... IOSB untouched while pending");
    r = WaitForSingleObject(srv, 0);
    CHECK(r == WAIT_TIMEOUT, "W45 WaitForSingleObject(server, 0) == WAIT_TIMEOUT while the read is pending");

    client = open_client(name, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ);
    ERR();
    CHECK(client != INVALID_HANDLE_VALUE, "W46 CreateFileA client of the NT-created mailslot");

    /* W46 */
    count = 0;
    ok = WriteFile(client, "data", 4, &count, NULL);
    ERR();
    CHECK(ok && count == 4, "W46 the client writes \"data\"");
    if (st_is(st, STATUS_PENDING)) {
        r = WaitForSingleObject(srv, 1000);
        CHECK(r == WAIT_OBJECT_0, "W46 the server handle is signalled within 1 s (WAIT_OBJECT_0)");
        CHECK(st_is(io.Status, STATUS_SUCCESS), "W46 IOSB.Status 0");
        CHECK(io.Information == 4, "W46 IOSB.Information 4");
        CHECK(memcmp(g_abuf, "data", 4) == 0, "W46 the buffer holds \"data\"");
    }
    CHECK(info_is(srv, MAILSLOT_NO_MESSAGE, 0), "W46 the message went to the pending read, not the queue");

    /* W46 with an event passed to NtReadFile. */
    eva = CreateEventA(NULL, TRUE, FALSE, NULL);
    evb = CreateEventA(NULL, TRUE, FALSE, NULL);
    ERR();
    CHECK(eva != NULL && evb != NULL, "W46 CreateEventA(NULL, TRUE, FALSE, NULL) x2");
    iosb_prefill(&io);
    memset(g_abuf, 0, sizeof g_abuf);
    st = NT(NtReadFile(srv, eva, NULL, NULL, &io, g_abuf, 16, NULL, NULL));
    CHECK(st_is(st, STATUS_PENDING) && iosb_untouched(&io), "W46 NtReadFile with an event: STATUS_PENDING, IOSB untouched");
    CHECK(WaitForSingleObject(eva, 0) == WAIT_TIMEOUT, "W46 the event is not signalled while the read is pending");
    count = 0;
    ok = WriteFile(client, "event", 5, &count, NULL);
    ERR();
    CHECK(ok && count == 5, "W46 write \"event\"");
    if (st_is(st, STATUS_PENDING)) {
        r = WaitForSingleObject(eva, 1000);
        CHECK(r == WAIT_OBJECT_0, "W46 the read's event is signalled within 1 s");
        CHECK(st_is(io.Status, STATUS_SUCCESS) && io.Information == 5 && memcmp(g_abuf, "event", 5) == 0,
              "W46 event read: Status 0, Information 5, \"event\"");
    }

    /* A queued message: MSFS completes the read at once. (Chosen: STATUS_SUCCESS is what Windows returns;
     * a STATUS_PENDING that completes at once is tolerated, as the NT contract allows it.) */
    count = 0;
    ok = WriteFile(client, "queued", 6, &count, NULL);
    ERR();
    CHECK(ok && count == 6, "W46 write \"queued\" with no read pending");
    CHECK(info_is(srv, 6, 1), "W46 ... it waits in the queue: next 6, count 1");
    ResetEvent(eva);
    iosb_prefill(&io);
    memset(g_abuf, 0, sizeof g_abuf);
    st = NT(NtReadFile(srv, eva, NULL, NULL, &io, g_abuf, 16, NULL, NULL));
    if (st_is(st, STATUS_PENDING)) WaitForSingleObject(eva, 1000);
    CHECK(NT_SUCCESS(st), "W46 NtReadFile(async server) with a message queued succeeds");
    CHECK(st_is(io.Status, STATUS_SUCCESS) && io.Information == 6 && memcmp(g_abuf, "queued", 6) == 0,
          "W46 ... IOSB Status 0, Information 6, \"queued\"");

    section("W47 pending reads in order, a too-small one first");
    /* W47: a lone pending read whose buffer is too small fails, and the message stays. */
    ResetEvent(eva);
    iosb_prefill(&ioa);
    st = NT(NtReadFile(srv, eva, NULL, NULL, &ioa, g_abuf, 1, NULL, NULL));
    CHECK(st_is(st, STATUS_PENDING), "W47 NtReadFile with a 1-byte buffer, empty slot: STATUS_PENDING");
    count = 0;
    ok = WriteFile(client, "four", 4, &count, NULL);
    ERR();
    CHECK(ok && count == 4, "W47 write \"four\"");
    if (st_is(st, STATUS_PENDING)) {
        r = WaitForSingleObject(eva, 1000);
        CHECK(r == WAIT_OBJECT_0, "W47 the too-small pending read completes (event signalled)");
        CHECK(st_is(ioa.Status, STATUS_BUFFER_TOO_SMALL), "W47 ... with STATUS_BUFFER_TOO_SMALL");
    }
    CHECK(info_is(srv, 4, 1), "W47 ... and the message stays queued (next 4, count 1)");
    iosb_prefill(&io);
    memset(g_cbuf, 0, sizeof g_cbuf);
    ResetEvent(evb);
    st = NT(NtReadFile(srv, evb, NULL, NULL, &io, g_cbuf, 16, NULL, NULL));
    if (st_is(st, STATUS_PENDING)) WaitForSingleObject(evb, 1000);
    CHECK(NT_SUCCESS(st) && st_is(io.Status, STATUS_SUCCESS) && io.Information == 4 && memcmp(g_cbuf, "four", 4) == 0,
          "W47 the next read gets the kept message whole");

    /* W47: two pending reads; the first (too small) fails, the second gets the message. */
    ResetEvent(eva);
    ResetEvent(evb);
    iosb_prefill(&ioa);
    iosb_prefill(&iob);
    memset(g_abuf, 0, sizeof g_abuf);
    memset(g_bbuf, 0, sizeof g_bbuf);
    st = NT(NtReadFile(srv, eva, NULL, NULL, &ioa, g_abuf, 1, NULL, NULL));
    CHECK(st_is(st, STATUS_PENDING), "W47 first pending read (1-byte buffer): STATUS_PENDING");
    st = NT(NtReadFile(srv, evb, NULL, NULL, &iob, g_bbuf, 16, NULL, NULL));
    CHECK(st_is(st, STATUS_PENDING), "W47 second pending read (16-byte buffer): STATUS_PENDING");
    CHECK(iosb_untouched(&ioa) && iosb_untouched(&iob), "W47 both IOSBs untouched while pending");
    count = 0;
    ok = WriteFile(client, "data", 4, &count, NULL);
    ERR();
    CHECK(ok && count == 4, "W47 write \"data\"");
    r = WaitForSingleObject(eva, 1000);
    CHECK(r == WAIT_OBJECT_0, "W47 the first (too-small) read completes");
    CHECK(st_is(ioa.Status, STATUS_BUFFER_TOO_SMALL), "W47 ... with STATUS_BUFFER_TOO_SMALL");
    r = WaitForSingleObject(evb, 1000);
    CHECK(r == WAIT_OBJECT_0, "W47 the second pending read completes with the kept message");
    CHECK(st_is(iob.Status, STATUS_SUCCESS) && iob.Information == 4 && memcmp(g_bbuf, "data", 4) == 0,
          "W47 ... Status 0, Information 4, \"data\"");
    CHECK(info_is(srv, MAILSLOT_NO_MESSAGE, 0), "W47 the queue is empty afterwards");

    section("Overlapped ReadFile on an asynchronous handle");
    memset(&ov, 0, sizeof ov);
    ov.hEvent = CreateEventA(NULL, TRUE, FALSE, NULL);
    ERR();
    CHECK(ov.hEvent != NULL, "overlapped: CreateEventA(NULL, TRUE, FALSE, NULL)");
    memset(g_abuf, 0, sizeof g_abuf);
    SetLastError(0xdeadbeef);
    ok = ReadFile(srv, g_abuf, 16, NULL, &ov);
    e = ERR();
    CHECK(!ok && e == ERROR_IO_PENDING, "overlapped: ReadFile(async server, OVERLAPPED), empty: FALSE, ERROR_IO_PENDING (997)");
    count = 0xdeadbeef;
    SetLastError(0xdeadbeef);
    ok = GetOverlappedResult(srv, &ov, &count, FALSE);
    e = ERR();
    CHECK(!ok && e == ERROR_IO_INCOMPLETE, "overlapped: GetOverlappedResult(bWait FALSE) while pending: ERROR_IO_INCOMPLETE (996)");
    CHECK(!HasOverlappedIoCompleted(&ov), "overlapped: HasOverlappedIoCompleted is FALSE while pending");
    count = 0;
    ok = WriteFile(client, "overlap", 7, &count, NULL);
    ERR();
    CHECK(ok && count == 7, "overlapped: write \"overlap\"");
    r = WaitForSingleObject(ov.hEvent, 1000);
    CHECK(r == WAIT_OBJECT_0, "overlapped: the OVERLAPPED's event is signalled when the write arrives");
    if (r == WAIT_OBJECT_0) {
        count = 0;
        ok = GetOverlappedResult(srv, &ov, &count, TRUE);
        ERR();
        CHECK(ok && count == 7 && memcmp(g_abuf, "overlap", 7) == 0, "overlapped: GetOverlappedResult(bWait TRUE): TRUE, 7 bytes");
        CHECK(ov.InternalHigh == 7 && HasOverlappedIoCompleted(&ov), "overlapped: Internal/InternalHigh updated");
    }

    /* CancelIo on a pending read. */
    ResetEvent(ov.hEvent);
    SetLastError(0xdeadbeef);
    ok = ReadFile(srv, g_abuf, 16, NULL, &ov);
    e = ERR();
    CHECK(!ok && e == ERROR_IO_PENDING, "CancelIo: a second overlapped read is pending");
    ok = CancelIo(srv);
    ERR();
    CHECK(ok, "CancelIo(server) succeeds");
    r = WaitForSingleObject(ov.hEvent, 1000);
    CHECK(r == WAIT_OBJECT_0, "CancelIo: the cancelled read's event is signalled");
    SetLastError(0xdeadbeef);
    ok = GetOverlappedResult(srv, &ov, &count, FALSE);
    e = ERR();
    CHECK(!ok && e == ERROR_OPERATION_ABORTED, "CancelIo: GetOverlappedResult gives FALSE, ERROR_OPERATION_ABORTED (995)");
    CHECK(st_is((NTSTATUS)ov.Internal, STATUS_CANCELLED), "CancelIo: OVERLAPPED.Internal is STATUS_CANCELLED");
    count = 0;
    ok = WriteFile(client, "after", 5, &count, NULL);
    ERR();
    CHECK(ok && count == 5 && info_is(srv, 5, 1), "CancelIo: a later message is queued, not given to the cancelled read");

    /* A read with a message queued completes at once: TRUE, event set. */
    ResetEvent(ov.hEvent);
    memset(g_abuf, 0, sizeof g_abuf);
    ok = ReadFile(srv, g_abuf, 16, NULL, &ov);
    e = ERR();
    if (!ok && e == ERROR_IO_PENDING) WaitForSingleObject(ov.hEvent, 1000);
    count = 0;
    CHECK(GetOverlappedResult(srv, &ov, &count, FALSE) && count == 5 && memcmp(g_abuf, "after", 5) == 0,
          "overlapped: a read with a message queued gets it (5 bytes)");
    CHECK(ok, "overlapped: ... and ReadFile returns TRUE at once (Windows completes it synchronously)");

    close_if(ov.hEvent);
    close_if(eva);
    close_if(evb);
    close_if(client);
    close_if(srv);
}

/* ---- Overlapped ReadFile on a synchronous (CreateMailslot) handle ------------------------------- */

static void test_overlapped_sync(void)
{
    char name[NAME_MAX_CHARS];
    unsigned char buf[16];
    OVERLAPPED ov;
    HANDLE server, client;
    DWORD count, e, t0;
    BOOL ok;

    section("Overlapped ReadFile on a synchronous handle");
    make_name(name, "ovsync");
    server = CreateMailslotA(name, 0, 0, NULL);
    client = open_client(name, GENERIC_WRITE, FILE_SHARE_READ);
    ERR();
    CHECK(server != INVALID_HANDLE_VALUE && client != INVALID_HANDLE_VALUE, "overlapped/sync: server and client");
    memset(&ov, 0, sizeof ov);
    ov.hEvent = CreateEventA(NULL, TRUE, FALSE, NULL);

    count = 0;
    ok = WriteFile(client, "sync", 4, &count, NULL);
    ERR();
    CHECK(ok && count == 4, "overlapped/sync: write \"sync\"");
    memset(buf, 0, sizeof buf);
    count = 0;
    ok = ReadFile(server, buf, sizeof buf, &count, &ov);
    ERR();
    CHECK(ok, "overlapped/sync: ReadFile(sync server, OVERLAPPED) with a message queued returns TRUE");
    CHECK(WaitForSingleObject(ov.hEvent, 0) == WAIT_OBJECT_0, "overlapped/sync: the event is signalled on return");
    count = 0;
    ok = GetOverlappedResult(server, &ov, &count, FALSE);
    ERR();
    CHECK(ok && count == 4 && memcmp(buf, "sync", 4) == 0, "overlapped/sync: GetOverlappedResult gives 4 bytes, \"sync\"");

    ResetEvent(ov.hEvent);
    SetLastError(0xdeadbeef);
    t0 = GetTickCount();
    ok = ReadFile(server, buf, sizeof buf, &count, &ov);
    e = ERR();
    CHECK(!ok && e == ERROR_SEM_TIMEOUT, "overlapped/sync: empty slot, timeout 0: FALSE, ERROR_SEM_TIMEOUT");
    CHECK(since(t0) < 500, "overlapped/sync: ... at once");

    close_if(ov.hEvent);
    close_if(client);
    close_if(server);
}

/* ---- R1: a blocked ReadFile on a MAILSLOT_WAIT_FOREVER slot is woken by a later write ------------ */

struct r1_state {
    pthread_mutex_t lock;
    HANDLE server;
    char name[NAME_MAX_CHARS];
    DWORD value;
    int reader_done, writer_done;
    BOOL read_ok, write_ok;
    DWORD read_err, read_count, read_ms, write_err;
    unsigned char buf[16];
};
static struct r1_state g_r1 = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void *r1_reader(void *arg)
{
    struct r1_state *s = arg;
    unsigned char buf[16];
    DWORD n = 0, t0 = GetTickCount();
    memset(buf, 0, sizeof buf);
    BOOL ok = ReadFile(s->server, buf, sizeof buf, &n, NULL);
    DWORD e = GetLastError();
    pthread_mutex_lock(&s->lock);
    s->read_ok = ok;
    s->read_err = e;
    s->read_count = n;
    s->read_ms = GetTickCount() - t0;
    memcpy(s->buf, buf, sizeof buf);
    s->reader_done = 1;
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static void *r1_writer(void *arg)
{
    struct r1_state *s = arg;
    DWORD n = 0, e;
    BOOL ok = FALSE;
    HANDLE c = CreateFileA(s->name, GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_EXISTING,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    e = GetLastError();
    if (c != INVALID_HANDLE_VALUE) {
        Sleep(1000);
        ok = WriteFile(c, &s->value, sizeof s->value, &n, NULL);
        e = GetLastError();
        CloseHandle(c);
    }
    pthread_mutex_lock(&s->lock);
    s->write_ok = ok && n == sizeof s->value;
    s->write_err = e;
    s->writer_done = 1;
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static void test_r1(void)
{
    struct r1_state *s = &g_r1;
    pthread_t reader, writer;
    int reader_started, writer_started, done;

    section("R1 blocked read woken by a write");
    make_name(s->name, "r1");
    s->value = 0xCAFEF00Du;
    s->server = CreateMailslotA(s->name, 0, MAILSLOT_WAIT_FOREVER, NULL);
    ERR();
    CHECK(s->server != INVALID_HANDLE_VALUE, "R1 CreateMailslotA(name, 0, MAILSLOT_WAIT_FOREVER)");
    if (s->server == INVALID_HANDLE_VALUE) return;

    reader_started = pthread_create(&reader, NULL, r1_reader, s) == 0;
    writer_started = pthread_create(&writer, NULL, r1_writer, s) == 0;
    CHECK(reader_started && writer_started, "R1 pthread_create x2");
    if (!reader_started || !writer_started) {
        /* Cannot happen in practice; leave the threads (if any) to the process exit. */
        return;
    }

    Sleep(500);
    pthread_mutex_lock(&s->lock);
    done = s->reader_done;
    pthread_mutex_unlock(&s->lock);
    CHECK(!done, "R1 the reader is still blocked 0.5 s in (before the write)");

    done = wait_flag(&s->lock, &s->reader_done, 3000);
    CHECK(done, "R1 the blocked ReadFile returns within 3 s of starting");
    if (done) {
        pthread_mutex_lock(&s->lock);
        g_err = s->read_err;
        CHECK(s->read_ok, "R1 the blocked ReadFile succeeds");
        CHECK(s->read_count == 4 && memcmp(s->buf, &s->value, 4) == 0, "R1 ... with exactly the 4-byte DWORD written");
        CHECK(s->read_ms >= 900, "R1 ... after the writer's 1 s sleep (>= 900 ms)");
        pthread_mutex_unlock(&s->lock);
        pthread_join(reader, NULL);
    } else {
        CloseHandle(s->server); /* wakes the reader (ERROR_OPERATION_ABORTED), or it stays detached */
        s->server = INVALID_HANDLE_VALUE;
        if (wait_flag(&s->lock, &s->reader_done, 1000)) pthread_join(reader, NULL);
        else pthread_detach(reader);
    }
    if (wait_flag(&s->lock, &s->writer_done, 3000)) {
        pthread_join(writer, NULL);
        pthread_mutex_lock(&s->lock);
        g_err = s->write_err;
        CHECK(s->write_ok, "R1 the writer thread's CreateFileA and WriteFile succeed");
        pthread_mutex_unlock(&s->lock);
    } else {
        CHECK(0, "R1 the writer thread finishes");
        pthread_detach(writer);
    }
    close_if(s->server);
}

/* ---- Handles: invalid handles, double close, DuplicateHandle ------------------------------------ */

static void test_handles(void)
{
    char name[NAME_MAX_CHARS];
    unsigned char buf[16];
    HANDLE server, dup, c, h;
    DWORD count, e, max, timeout;
    BOOL ok;

    section("handles");
    make_name(name, "handles");

    count = 0xdeadbeef;
    SetLastError(0xdeadbeef);
    ok = ReadFile((HANDLE)(uintptr_t)0x0badc0de, buf, sizeof buf, &count, NULL);
    e = ERR();
    CHECK(!ok && e == ERROR_INVALID_HANDLE, "handles: ReadFile on a bogus handle: ERROR_INVALID_HANDLE (6)");
    SetLastError(0xdeadbeef);
    ok = WriteFile(INVALID_HANDLE_VALUE, "x", 1, &count, NULL);
    e = ERR();
    CHECK(!ok && e == ERROR_INVALID_HANDLE, "handles: WriteFile(INVALID_HANDLE_VALUE): ERROR_INVALID_HANDLE (6)");

    /* CloseHandle twice. */
    h = CreateMailslotA(name, 0, 0, NULL);
    ERR();
    CHECK(h != INVALID_HANDLE_VALUE, "handles: CreateMailslotA");
    CHECK(CloseHandle(h), "handles: first CloseHandle succeeds");
    SetLastError(0xdeadbeef);
    ok = CloseHandle(h);
    e = ERR();
    CHECK(!ok && e == ERROR_INVALID_HANDLE, "handles: second CloseHandle of the same handle fails with ERROR_INVALID_HANDLE (6)");
    SetLastError(0xdeadbeef);
    ok = ReadFile(h, buf, sizeof buf, &count, NULL);
    e = ERR();
    CHECK(!ok && e == ERROR_INVALID_HANDLE, "handles: ReadFile on a closed handle: ERROR_INVALID_HANDLE (6)");

    /* DuplicateHandle keeps the mailslot alive. */
    server = CreateMailslotA(name, 0, 0, NULL);
    ERR();
    CHECK(server != INVALID_HANDLE_VALUE, "DuplicateHandle: CreateMailslotA");
    dup = NULL;
    ok = DuplicateHandle(GetCurrentProcess(), server, GetCurrentProcess(), &dup, 0, FALSE, DUPLICATE_SAME_ACCESS);
    ERR();
    CHECK(ok && dup != NULL && dup != INVALID_HANDLE_VALUE && dup != server,
          "DuplicateHandle(GetCurrentProcess(), server, ..., DUPLICATE_SAME_ACCESS) gives a new handle");
    if (!ok) {
        close_if(server);
        return;
    }
    c = open_client(name, GENERIC_WRITE, FILE_SHARE_READ);
    ERR();
    CHECK(c != INVALID_HANDLE_VALUE, "DuplicateHandle: client");
    count = 0;
    ok = WriteFile(c, "dup1", 4, &count, NULL);
    ERR();
    CHECK(ok && count == 4, "DuplicateHandle: write \"dup1\"");
    memset(buf, 0, sizeof buf);
    count = 0;
    ok = ReadFile(dup, buf, sizeof buf, &count, NULL);
    ERR();
    CHECK(ok && count == 4 && memcmp(buf, "dup1", 4) == 0, "DuplicateHandle: reading through the duplicate works");
    max = timeout = 0x55555555;
    ok = GetMailslotInfo(dup, &max, NULL, NULL, &timeout);
    ERR();
    CHECK(ok && max == 0 && timeout == 0, "DuplicateHandle: GetMailslotInfo through the duplicate");
    SetLastError(0xdeadbeef);
    ok = WriteFile(dup, "x", 1, &count, NULL);
    e = ERR();
    CHECK(!ok && e == ERROR_ACCESS_DENIED, "DuplicateHandle: the duplicate has the server's access (write: ERROR_ACCESS_DENIED)");

    CHECK(CloseHandle(server), "DuplicateHandle: CloseHandle(server)");
    SetLastError(0xdeadbeef);
    h = CreateMailslotA(name, 0, 0, NULL);
    e = ERR();
    CHECK(h == INVALID_HANDLE_VALUE && e == ERROR_ALREADY_EXISTS,
          "DuplicateHandle: with the original closed, the mailslot lives on in the duplicate (create: 183)");
    close_if(h);
    count = 0;
    ok = WriteFile(c, "dup2", 4, &count, NULL);
    ERR();
    memset(buf, 0, sizeof buf);
    count = 0;
    ok = ok && ReadFile(dup, buf, sizeof buf, &count, NULL);
    ERR();
    CHECK(ok && count == 4 && memcmp(buf, "dup2", 4) == 0, "DuplicateHandle: the duplicate still reads after the original closed");
    close_if(c);
    CHECK(CloseHandle(dup), "DuplicateHandle: CloseHandle(duplicate)");
    h = CreateMailslotA(name, 0, 0, NULL);
    ERR();
    CHECK(h != INVALID_HANDLE_VALUE, "DuplicateHandle: after the duplicate closes the name is free");
    close_if(h);
}

/* ---- Events and waits --------------------------------------------------------------------------- */

struct setter { pthread_mutex_t lock; HANDLE ev; int done; };
static struct setter g_setter = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void *set_later(void *arg)
{
    struct setter *s = arg;
    Sleep(100);
    SetEvent(s->ev);
    pthread_mutex_lock(&s->lock);
    s->done = 1;
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static void test_events(void)
{
    HANDLE m, a, on, hs[2];
    DWORD r, t0, dt;
    pthread_t t;

    section("events");
    m = CreateEventA(NULL, TRUE, FALSE, NULL);
    a = CreateEventA(NULL, FALSE, FALSE, NULL);
    on = CreateEventA(NULL, TRUE, TRUE, NULL);
    ERR();
    CHECK(m != NULL && a != NULL && on != NULL, "events: CreateEventA (manual, auto, initially set)");
    if (!m || !a || !on) return;

    CHECK(WaitForSingleObject(on, 0) == WAIT_OBJECT_0, "events: an initially-set event is signalled");
    CHECK(WaitForSingleObject(m, 0) == WAIT_TIMEOUT, "events: an unset manual-reset event: WAIT_TIMEOUT");
    CHECK(SetEvent(m), "events: SetEvent(manual)");
    CHECK(WaitForSingleObject(m, 0) == WAIT_OBJECT_0, "events: manual-reset: first wait WAIT_OBJECT_0");
    CHECK(WaitForSingleObject(m, 0) == WAIT_OBJECT_0, "events: manual-reset stays signalled for a second wait");
    CHECK(ResetEvent(m), "events: ResetEvent(manual)");
    CHECK(WaitForSingleObject(m, 0) == WAIT_TIMEOUT, "events: after ResetEvent: WAIT_TIMEOUT");

    CHECK(SetEvent(a), "events: SetEvent(auto)");
    CHECK(WaitForSingleObject(a, 0) == WAIT_OBJECT_0, "events: auto-reset: first wait WAIT_OBJECT_0");
    CHECK(WaitForSingleObject(a, 0) == WAIT_TIMEOUT, "events: auto-reset is consumed by one wait");

    hs[0] = m;
    hs[1] = a;
    SetEvent(a);
    r = WaitForMultipleObjects(2, hs, FALSE, 0);
    CHECK(r == WAIT_OBJECT_0 + 1, "events: WaitForMultipleObjects(any) names the signalled one (WAIT_OBJECT_0 + 1)");
    CHECK(WaitForSingleObject(a, 0) == WAIT_TIMEOUT, "events: ... and consumed the auto-reset event");
    SetEvent(m);
    SetEvent(a);
    r = WaitForMultipleObjects(2, hs, FALSE, 0);
    CHECK(r == WAIT_OBJECT_0, "events: WaitForMultipleObjects(any), both set: the lowest index");
    CHECK(WaitForSingleObject(a, 0) == WAIT_OBJECT_0, "events: ... and left the other (auto-reset) set");
    r = WaitForMultipleObjects(2, hs, TRUE, 0);
    CHECK(r == WAIT_TIMEOUT, "events: WaitForMultipleObjects(all) with one unset: WAIT_TIMEOUT");
    SetEvent(a);
    r = WaitForMultipleObjects(2, hs, TRUE, 0);
    CHECK(r == WAIT_OBJECT_0, "events: WaitForMultipleObjects(all) with both set: WAIT_OBJECT_0");
    CHECK(WaitForSingleObject(a, 0) == WAIT_TIMEOUT, "events: wait-all consumed the auto-reset event");
    CHECK(WaitForSingleObject(m, 0) == WAIT_OBJECT_0, "events: wait-all left the manual-reset event set");

    ResetEvent(m);
    t0 = GetTickCount();
    r = WaitForSingleObject(m, 200);
    dt = since(t0);
    CHECK(r == WAIT_TIMEOUT && dt >= 180 && dt < 2000, "events: WaitForSingleObject(200) times out after ~200 ms");
    t0 = GetTickCount();
    r = WaitForMultipleObjects(2, hs, FALSE, 200);
    dt = since(t0);
    CHECK(r == WAIT_TIMEOUT && dt >= 180 && dt < 2000, "events: WaitForMultipleObjects(any, 200) times out after ~200 ms");

    /* A wait is ended by another thread's SetEvent. */
    g_setter.ev = m;
    t0 = GetTickCount();
    if (pthread_create(&t, NULL, set_later, &g_setter) == 0) {
        r = WaitForSingleObject(m, 2000);
        dt = since(t0);
        CHECK(r == WAIT_OBJECT_0 && dt >= 90 && dt < 1500, "events: a wait ends when another thread sets the event (~100 ms)");
        if (wait_flag(&g_setter.lock, &g_setter.done, 3000)) pthread_join(t, NULL);
        else pthread_detach(t);
    } else {
        CHECK(0, "events: pthread_create");
    }

    CHECK(CloseHandle(m) && CloseHandle(a) && CloseHandle(on), "events: CloseHandle x3");
}

/* ---- The W functions and lstr*W ----------------------------------------------------------------- */

static void test_wide(void)
{
    char name[NAME_MAX_CHARS], upper[NAME_MAX_CHARS], missing[NAME_MAX_CHARS];
    char16_t w[NAME_MAX_CHARS + 64], dst[16];
    unsigned char buf[16];
    HANDLE h, h2, c;
    DWORD count, e;
    BOOL ok;

    section("W functions");
    /* CreateMailslotW, then the A functions on the same mailslot. */
    make_name(name, "wide1");
    widen(w, name);
    h = CreateMailslotW(w, 0, 0, NULL);
    ERR();
    CHECK(h != INVALID_HANDLE_VALUE, "wide: CreateMailslotW(u\"\\\\\\\\.\\\\mailslot\\\\...\")");
    upcase(upper, name);
    SetLastError(0xdeadbeef);
    h2 = CreateMailslotA(upper, 0, 0, NULL);
    e = ERR();
    CHECK(h2 == INVALID_HANDLE_VALUE && e == ERROR_ALREADY_EXISTS, "wide: CreateMailslotA of the same name (other case) collides");
    close_if(h2);
    c = open_client(name, GENERIC_WRITE, FILE_SHARE_READ);
    ERR();
    count = 0;
    ok = c != INVALID_HANDLE_VALUE && WriteFile(c, "wa", 2, &count, NULL);
    ERR();
    memset(buf, 0, sizeof buf);
    ok = ok && ReadFile(h, buf, sizeof buf, &count, NULL);
    ERR();
    CHECK(ok && count == 2 && memcmp(buf, "wa", 2) == 0, "wide: CreateFileA writes reach the CreateMailslotW server");
    close_if(c);
    close_if(h);

    /* CreateMailslotA, then CreateFileW / CreateMailslotW on it. */
    make_name(name, "wide2");
    h = CreateMailslotA(name, 0, 0, NULL);
    upcase(upper, name);
    widen(w, upper);
    SetLastError(0xdeadbeef);
    h2 = CreateMailslotW(w, 0, 0, NULL);
    e = ERR();
    CHECK(h2 == INVALID_HANDLE_VALUE && e == ERROR_ALREADY_EXISTS, "wide: CreateMailslotW of an A-created name collides (183)");
    close_if(h2);
    c = CreateFileW(w, GENERIC_WRITE, FILE_SHARE_READ, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    ERR();
    CHECK(c != INVALID_HANDLE_VALUE, "wide: CreateFileW opens the CreateMailslotA mailslot");
    count = 0;
    ok = c != INVALID_HANDLE_VALUE && WriteFile(c, "aw", 2, &count, NULL);
    ERR();
    memset(buf, 0, sizeof buf);
    ok = ok && ReadFile(h, buf, sizeof buf, &count, NULL);
    ERR();
    CHECK(ok && count == 2 && memcmp(buf, "aw", 2) == 0, "wide: CreateFileW writes reach the CreateMailslotA server");
    close_if(c);
    close_if(h);

    /* W1, W2, W10 through the W functions. */
    SetLastError(0xdeadbeef);
    h = CreateMailslotW(u"blah", 0, 0, NULL);
    e = ERR();
    CHECK(h == INVALID_HANDLE_VALUE && e == ERROR_INVALID_NAME, "wide: W1 CreateMailslotW(u\"blah\"): ERROR_INVALID_NAME");
    close_if(h);
    SetLastError(0xdeadbeef);
    h = CreateMailslotW(NULL, 0, 0, NULL);
    e = ERR();
    CHECK(h == INVALID_HANDLE_VALUE && e == ERROR_PATH_NOT_FOUND, "wide: W2 CreateMailslotW(NULL): ERROR_PATH_NOT_FOUND");
    close_if(h);
    make_name(missing, "no-such-wide");
    widen(w, missing);
    SetLastError(0xdeadbeef);
    c = CreateFileW(w, GENERIC_WRITE, FILE_SHARE_READ, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    e = ERR();
    CHECK(c == INVALID_HANDLE_VALUE && e == ERROR_FILE_NOT_FOUND, "wide: W10 CreateFileW of a missing mailslot: ERROR_FILE_NOT_FOUND");
    close_if(c);

    /* Non-ASCII UTF-16 names round-trip through the W functions. */
    widen(w, g_prefix);
    wappend(w, u"\\\u00e9t\u00e9-\u4e2d\u6587");
    h = CreateMailslotW(w, 0, 0, NULL);
    ERR();
    CHECK(h != INVALID_HANDLE_VALUE, "wide: CreateMailslotW of a non-ASCII name");
    c = CreateFileW(w, GENERIC_WRITE, FILE_SHARE_READ, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    ERR();
    count = 0;
    ok = c != INVALID_HANDLE_VALUE && WriteFile(c, "u", 1, &count, NULL);
    ERR();
    memset(buf, 0, sizeof buf);
    ok = ok && ReadFile(h, buf, sizeof buf, &count, NULL);
    ERR();
    CHECK(ok && count == 1 && buf[0] == 'u', "wide: CreateFileW of the same non-ASCII name reaches it");
    close_if(c);
    close_if(h);

    section("lstr*W");
    CHECK(lstrlenW(u"mailslot") == 8, "lstrlenW(u\"mailslot\") == 8");
    CHECK(lstrlenW(u"") == 0, "lstrlenW(u\"\") == 0");
    CHECK(lstrlenW(NULL) == 0, "lstrlenW(NULL) == 0 (documented)");
    CHECK(lstrcmpW(u"abc", u"abc") == 0, "lstrcmpW equal strings: 0");
    CHECK(lstrcmpW(u"abc", u"abd") < 0, "lstrcmpW(\"abc\", \"abd\") < 0");
    CHECK(lstrcmpW(u"b", u"a") > 0, "lstrcmpW(\"b\", \"a\") > 0");
    CHECK(lstrcmpW(u"ab", u"abc") < 0, "lstrcmpW: a prefix sorts first");
    memset(dst, 0x55, sizeof dst);
    CHECK(lstrcpyW(dst, u"copy") == dst, "lstrcpyW returns the destination");
    CHECK(dst[0] == u'c' && dst[3] == u'y' && dst[4] == 0 && lstrcmpW(dst, u"copy") == 0, "lstrcpyW copies with the terminator");
}

/* ---- SDDL --------------------------------------------------------------------------------------- */

static void test_sddl(void)
{
    char name[NAME_MAX_CHARS];
    unsigned char buf[16];
    PSECURITY_DESCRIPTOR sd = NULL;
    SECURITY_ATTRIBUTES sa;
    HANDLE h, c;
    DWORD count, e;
    BOOL ok;

    section("SDDL");
    make_name(name, "sddl");
    SetLastError(0xdeadbeef);
    ok = ConvertStringSecurityDescriptorToSecurityDescriptorA("D:(A;;GA;;;WD)", SDDL_REVISION_1, &sd, NULL);
    ERR();
    CHECK(ok && sd != NULL, "SDDL: ConvertStringSecurityDescriptorToSecurityDescriptorA(\"D:(A;;GA;;;WD)\") succeeds");
    if (ok && sd) {
        sa.nLength = sizeof sa;
        sa.lpSecurityDescriptor = sd;
        sa.bInheritHandle = FALSE;
        h = CreateMailslotA(name, 0, 0, &sa);
        ERR();
        CHECK(h != INVALID_HANDLE_VALUE, "SDDL: CreateMailslotA with SECURITY_ATTRIBUTES{sizeof, sd, FALSE}");
        c = open_client(name, GENERIC_WRITE, FILE_SHARE_READ);
        ERR();
        count = 0;
        ok = c != INVALID_HANDLE_VALUE && WriteFile(c, "sd", 2, &count, NULL);
        ERR();
        memset(buf, 0, sizeof buf);
        ok = ok && ReadFile(h, buf, sizeof buf, &count, NULL);
        ERR();
        CHECK(ok && count == 2 && memcmp(buf, "sd", 2) == 0, "SDDL: the Everyone-writable mailslot works");
        close_if(c);
        close_if(h);
        CHECK(LocalFree(sd) == NULL, "SDDL: LocalFree(sd) returns NULL");
    }

    sd = NULL;
    SetLastError(0xdeadbeef);
    ok = ConvertStringSecurityDescriptorToSecurityDescriptorA("D:(A;;GA;;;WD)", 2, &sd, NULL);
    e = ERR();
    CHECK(!ok && e == ERROR_UNKNOWN_REVISION, "SDDL: revision 2 fails with ERROR_UNKNOWN_REVISION (1305)");
    if (ok && sd) LocalFree(sd);

    sd = NULL;
    SetLastError(0xdeadbeef);
    ok = ConvertStringSecurityDescriptorToSecurityDescriptorA("D:(X;;;;;)", SDDL_REVISION_1, &sd, NULL);
    e = ERR();
    CHECK(!ok && e == ERROR_INVALID_PARAMETER, "SDDL: garbage \"D:(X;;;;;)\" fails with ERROR_INVALID_PARAMETER (87)");
    if (ok && sd) LocalFree(sd);

    /* Windows accepts deny ACEs; this API cannot express one as a Linux access rule and, as its header
     * documents, refuses it with ERROR_INVALID_PARAMETER rather than ignoring it. */
    sd = NULL;
    SetLastError(0xdeadbeef);
    ok = ConvertStringSecurityDescriptorToSecurityDescriptorA("D:(D;;GA;;;WD)", SDDL_REVISION_1, &sd, NULL);
    e = ERR();
    CHECK(!ok && e == ERROR_INVALID_PARAMETER, "SDDL: a deny ACE \"D:(D;;GA;;;WD)\" fails with ERROR_INVALID_PARAMETER (87)");
    if (ok && sd) LocalFree(sd);
}

/* ---- Tick counts -------------------------------------------------------------------------------- */

static void test_ticks(void)
{
    DWORD t, dt;
    ULONGLONG t64, dt64;

    section("ticks");
    t = GetTickCount();
    t64 = GetTickCount64();
    CHECK((DWORD)((DWORD)t64 - t) < 50, "GetTickCount is the low 32 bits of GetTickCount64 (within 50 ms)");
    Sleep(100);
    dt = GetTickCount() - t;
    dt64 = GetTickCount64() - t64;
    CHECK(dt >= 90 && dt < 1000, "Sleep(100): GetTickCount advances ~100 ms");
    CHECK(dt64 >= 90 && dt64 < 1000, "Sleep(100): GetTickCount64 advances ~100 ms");
    t64 = GetTickCount64();
    Sleep(0);
    CHECK(GetTickCount64() >= t64, "GetTickCount64 does not go backwards");
}

/* ---- main --------------------------------------------------------------------------------------- */

/* Hostile SDDL: 20,000 seeded mutations of real descriptors are accepted or refused, never a crash, and
 * what is accepted creates a mailslot. */
static void test_sddl_mutations(void)
{
    static const char alphabet[] = "DSOGA:();PIRNO_CESWUBLYKFXT0123456789-x";
    static const char *seeds[] = {"D:(A;;GA;;;WD)", "D:P(A;OICI;GW;;;S-1-22-2-100)(A;;GA;;;NU)S:(ML;;NW;;;LW)",
                                  "O:BAG:BAD:(A;;0x40000000;;;AU)"};
    char buf[256], name[NAME_MAX_CHARS];
    unsigned seed = 12345, accepted = 0, created = 0;
    section("SDDL mutations");
    make_name(name, "sddl-mutant");
    for (int i = 0; i < 20000; i++) {
        const char *s = seeds[i % 3];
        size_t n = strlen(s);
        memcpy(buf, s, n + 1);
        int edits = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 4;
        for (int e = 0; e < edits; e++) {
            seed = seed * 1103515245u + 12345u;
            size_t pos = (seed >> 16) % (n + 1);
            seed = seed * 1103515245u + 12345u;
            int op = (int)((seed >> 16) % 3);
            char c = alphabet[(seed >> 8) % (sizeof alphabet - 1)];
            if (op == 0 && n < 250) { memmove(buf + pos + 1, buf + pos, n - pos + 1); buf[pos] = c; n++; }
            else if (op == 1 && pos < n) { memmove(buf + pos, buf + pos + 1, n - pos); n--; }
            else if (pos < n) buf[pos] = c;
        }
        PSECURITY_DESCRIPTOR sd = NULL;
        if (!ConvertStringSecurityDescriptorToSecurityDescriptorA(buf, SDDL_REVISION_1, &sd, NULL)) continue;
        accepted++;
        if (accepted % 50 == 1) { /* now and then, use what was accepted */
            SECURITY_ATTRIBUTES sa = {sizeof sa, sd, FALSE};
            HANDLE h = CreateMailslotA(name, 0, 0, &sa);
            if (h != INVALID_HANDLE_VALUE) { created++; CloseHandle(h); }
        }
        LocalFree(sd);
    }
    CHECK(accepted > 0 && accepted < 20000, "SDDL mutations: some accepted, most refused, none crashed");
    CHECK(created == (accepted + 49) / 50, "every accepted descriptor creates a mailslot");
}

/* Hostile arguments: a NULL buffer with a length is not a zero-length message, and nothing moves. */
static void test_bad_buffers(void)
{
    char name[NAME_MAX_CHARS];
    DWORD n = 77;
    IO_STATUS_BLOCK io;
    make_name(name, "badbuf");
    section("NULL buffers");
    HANDLE server = CreateMailslotA(name, 0, 0, NULL);
    HANDLE client = open_client(name, GENERIC_WRITE, FILE_SHARE_READ);
    CHECK(server != INVALID_HANDLE_VALUE && client != INVALID_HANDLE_VALUE, "NULL buffers: create and open");
    CHECK(!WriteFile(client, NULL, 5, &n, NULL) && ERR() == ERROR_NOACCESS && n == 0, "WriteFile(NULL, 5): ERROR_NOACCESS");
    CHECK(info_is(server, MAILSLOT_NO_MESSAGE, 0), "... and no message was queued");
    iosb_prefill(&io);
    CHECK(st_is(NT(NtWriteFile(client, NULL, NULL, NULL, &io, NULL, 5, NULL, NULL)), STATUS_ACCESS_VIOLATION) && iosb_untouched(&io),
          "NtWriteFile(NULL, 5): STATUS_ACCESS_VIOLATION, IOSB untouched");
    CHECK(WriteFile(client, NULL, 0, &n, NULL) && n == 0, "WriteFile(NULL, 0) is a zero-length message");
    CHECK(WriteFile(client, "abc", 3, &n, NULL), "WriteFile abc");
    CHECK(!ReadFile(server, NULL, 16, &n, NULL) && ERR() == ERROR_NOACCESS, "ReadFile(NULL, 16): ERROR_NOACCESS");
    CHECK(info_is(server, 0, 2), "... and both messages stay");
    CHECK(ReadFile(server, NULL, 0, &n, NULL) && n == 0, "ReadFile(NULL, 0) takes the zero-length message");
    CHECK(!WriteFile(INVALID_HANDLE_VALUE, "x", 1, &n, NULL) && ERR() == ERROR_INVALID_HANDLE, "WriteFile(INVALID_HANDLE_VALUE): 6");
    close_if(client);
    close_if(server);
}

int main(int argc, char **argv)
{
    static const char device[] = "\\\\.\\mailslot\\";
    size_t i, plen = strlen(device);
    pthread_t wd;

    if (argc < 2 || strlen(argv[1]) <= plen || strlen(argv[1]) > 300) {
        fprintf(stderr, "usage: %s '\\\\.\\mailslot\\<unique prefix>'\n", argc ? argv[0] : "conformance");
        return 2;
    }
    for (i = 0; i < plen; i++)
        if (tolower((unsigned char)argv[1][i]) != device[i]) {
            fprintf(stderr, "the prefix must start with \\\\.\\mailslot\\\n");
            return 2;
        }
    snprintf(g_prefix, sizeof g_prefix, "%s", argv[1]);
    g_rest = g_prefix + plen;

    if (pthread_create(&wd, NULL, watchdog, NULL) != 0) {
        fprintf(stderr, "pthread_create failed\n");
        return 2;
    }

    test_naming();
    test_nt_names();
    test_sync_layer();
    test_timeouts();
    test_async();
    test_overlapped_sync();
    test_r1();
    test_handles();
    test_events();
    test_wide();
    test_sddl();
    test_ticks();
    test_bad_buffers();
    test_sddl_mutations();

    pthread_mutex_lock(&g_lock);
    g_finished = 1;
    pthread_mutex_unlock(&g_lock);
    pthread_join(wd, NULL);

    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed ? 1 : 0;
}
