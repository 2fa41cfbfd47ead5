/*
 * threads.c: a concurrency stress test of libMailslotWin32, meant to run under ThreadSanitizer.
 *
 * Eight worker threads run at once for about 2 s (and a bounded number of messages):
 *   - 2 readers do blocking ReadFile on one server (a 200 ms read timeout);
 *   - 4 writers each open their own client (CreateFileA) and write numbered messages "w<id>:<seq>";
 *   - 1 thread opens and closes extra clients and calls GetMailslotInfo on the server and on the clients;
 *   - 1 thread, over and over, creates a scratch mailslot with MAILSLOT_WAIT_FOREVER, starts a thread
 *     blocked in ReadFile on it, sleeps 50 ms, closes the handle, and expects the blocked ReadFile to
 *     return FALSE with ERROR_OPERATION_ABORTED (995).
 * At the end every message whose WriteFile returned TRUE must have been read exactly once, and each
 * reader must have seen each writer's messages in increasing order (the queue is FIFO and each writer
 * writes in sequence, so any one reader's view of a writer is increasing).
 *
 * Usage: threads '\\.\mailslot\<unique prefix>'
 * Output: "FAILED: ..." lines, a statistics line, then "N passed, M failed"; exit status 1 if M > 0.
 * The program's own bookkeeping is guarded by pthread mutexes, so any race TSan reports is the library's.
 */
#define _POSIX_C_SOURCE 200809L
#include "mailslot_win32.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READERS 2
#define WRITERS 4
#define MAX_SEQ 10000         /* messages per writer, at most */
#define RUN_MS 2000u          /* writers stop after this long */
#define READ_TIMEOUT_MS 200u  /* the server's read timeout */
#define SCRATCH_ROUNDS 40     /* blocked-read-then-close rounds, at most */
#define OPENER_ROUNDS 20000   /* open/info/close rounds, at most */
#define WATCHDOG_MS 60000u
#define NAME_CHARS 512

/* ---- Checks ------------------------------------------------------------------------------------- */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_passed, g_failed, g_finished;

static void check(int ok, const char *what, DWORD err)
{
    pthread_mutex_lock(&g_lock);
    if (ok)
        g_passed++;
    else {
        g_failed++;
        printf("FAILED: %s (GetLastError %u / status 0x00000000)\n", what, (unsigned)err);
        fflush(stdout);
    }
    pthread_mutex_unlock(&g_lock);
}
#define CHECK(cond, what, err) check((cond) ? 1 : 0, (what), (err))

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
            printf("FAILED: watchdog: the stress run did not finish within %u s\n", WATCHDOG_MS / 1000);
            printf("%d passed, %d failed\n", g_passed, g_failed + 1);
            fflush(stdout);
            _Exit(1);
        }
        pthread_mutex_unlock(&g_lock);
    }
}

/* ---- Shared state (set before the threads start, read-only after) -------------------------------- */

static char g_prefix[400];
static char g_name[NAME_CHARS];
static HANDLE g_server;
static DWORD g_start;

/* ---- Bookkeeping, all under g_book -------------------------------------------------------------- */

static pthread_mutex_t g_book = PTHREAD_MUTEX_INITIALIZER;
static unsigned char g_written[WRITERS][MAX_SEQ + 1]; /* 1: WriteFile returned TRUE */
static unsigned char g_read[WRITERS][MAX_SEQ + 1];    /* times read (saturating) */
static int g_writers_done, g_stop;
static unsigned long g_writes, g_reads, g_quota_refusals;
static unsigned g_write_errors, g_read_errors, g_bad_messages, g_order_errors, g_open_errors;
static unsigned g_opener_rounds, g_opener_problems;
static unsigned g_scratch_rounds, g_scratch_aborted, g_scratch_problems;
static char g_first_problem[8][200];

enum { P_WRITE, P_READ, P_BAD, P_ORDER, P_OPEN, P_OPENER, P_SCRATCH };

/* Remembers the first problem of each kind; call with g_book held. */
static void note(int kind, const char *text)
{
    if (!g_first_problem[kind][0]) snprintf(g_first_problem[kind], sizeof g_first_problem[kind], "%s", text);
}

static int writers_done(void)
{
    pthread_mutex_lock(&g_book);
    int v = g_writers_done;
    pthread_mutex_unlock(&g_book);
    return v;
}

static int stopping(void)
{
    pthread_mutex_lock(&g_book);
    int v = g_stop;
    pthread_mutex_unlock(&g_book);
    return v;
}

/* ---- Readers ------------------------------------------------------------------------------------ */

static void *reader(void *arg)
{
    int id = (int)(intptr_t)arg;
    int last[WRITERS];
    unsigned char buf[64];
    char text[200];
    unsigned errors = 0;
    int i;

    for (i = 0; i < WRITERS; i++) last[i] = 0;
    for (;;) {
        /* Read the flag before the read: a timeout after every write finished means the queue is empty. */
        int done_before = writers_done();
        DWORD n = 0;
        BOOL ok = ReadFile(g_server, buf, sizeof buf - 1, &n, NULL);
        DWORD e = GetLastError();
        if (ok) {
            int w = -1, seq = -1;
            char tail;
            buf[n < sizeof buf ? n : sizeof buf - 1] = 0;
            pthread_mutex_lock(&g_book);
            g_reads++;
            if (n >= sizeof buf - 1 || sscanf((const char *)buf, "w%d:%d%c", &w, &seq, &tail) != 2 || w < 0 || w >= WRITERS ||
                seq < 1 || seq > MAX_SEQ) {
                g_bad_messages++;
                snprintf(text, sizeof text, "reader %d got a malformed message of %u bytes: \"%.40s\"", id, (unsigned)n,
                         (const char *)buf);
                note(P_BAD, text);
            } else {
                if (g_read[w][seq] < 255) g_read[w][seq]++;
                if (seq <= last[w]) {
                    g_order_errors++;
                    snprintf(text, sizeof text, "reader %d got w%d:%d after w%d:%d", id, w, seq, w, last[w]);
                    note(P_ORDER, text);
                }
                last[w] = seq;
            }
            pthread_mutex_unlock(&g_book);
        } else if (e == ERROR_SEM_TIMEOUT) {
            if (done_before) break;
        } else {
            pthread_mutex_lock(&g_book);
            g_read_errors++;
            snprintf(text, sizeof text, "reader %d: ReadFile failed with %u", id, (unsigned)e);
            note(P_READ, text);
            pthread_mutex_unlock(&g_book);
            if (++errors > 100) break;
            Sleep(1);
        }
    }
    return NULL;
}

/* ---- Writers ------------------------------------------------------------------------------------ */

static void *writer(void *arg)
{
    int id = (int)(intptr_t)arg;
    char text[200], msg[32];
    int seq;
    HANDLE c = CreateFileA(g_name, GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_EXISTING,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    DWORD e = GetLastError();
    if (c == INVALID_HANDLE_VALUE) {
        pthread_mutex_lock(&g_book);
        g_open_errors++;
        snprintf(text, sizeof text, "writer %d: CreateFileA failed with %u", id, (unsigned)e);
        note(P_OPEN, text);
        pthread_mutex_unlock(&g_book);
        return NULL;
    }
    for (seq = 1; seq <= MAX_SEQ && GetTickCount() - g_start < RUN_MS; seq++) {
        int len = snprintf(msg, sizeof msg, "w%d:%d", id, seq);
        DWORD n = 0;
        BOOL ok = WriteFile(c, msg, (DWORD)len, &n, NULL);
        e = GetLastError();
        pthread_mutex_lock(&g_book);
        if (ok && n == (DWORD)len) {
            g_written[id][seq] = 1;
            g_writes++;
        } else if (!ok && e == ERROR_NOT_ENOUGH_QUOTA) {
            g_quota_refusals++; /* a full queue may refuse a write; that message simply was not written */
        } else {
            g_write_errors++;
            snprintf(text, sizeof text, "writer %d: WriteFile(\"%s\") returned %d, %u written, error %u", id, msg, ok,
                     (unsigned)n, (unsigned)e);
            note(P_WRITE, text);
        }
        pthread_mutex_unlock(&g_book);
        if (!ok) Sleep(1);
    }
    if (!CloseHandle(c)) {
        e = GetLastError();
        pthread_mutex_lock(&g_book);
        g_open_errors++;
        snprintf(text, sizeof text, "writer %d: CloseHandle(client) failed with %u", id, (unsigned)e);
        note(P_OPEN, text);
        pthread_mutex_unlock(&g_book);
    }
    return NULL;
}

/* ---- Extra clients and GetMailslotInfo ---------------------------------------------------------- */

static void opener_problem(const char *what, DWORD e)
{
    char text[200];
    pthread_mutex_lock(&g_book);
    g_opener_problems++;
    snprintf(text, sizeof text, "%s (error %u)", what, (unsigned)e);
    note(P_OPENER, text);
    pthread_mutex_unlock(&g_book);
}

/* One GetMailslotInfo answer is one snapshot: it must agree with itself and with the server's settings. */
static int info_consistent(DWORD max, DWORD next, DWORD count, DWORD timeout)
{
    if (max != 0 || timeout != READ_TIMEOUT_MS) return 0;
    if (count == 0) return next == MAILSLOT_NO_MESSAGE;
    return next >= 4 && next <= 8; /* "w0:1" .. "w3:10000" */
}

static void *opener(void *arg)
{
    unsigned rounds = 0;
    (void)arg;
    while (rounds < OPENER_ROUNDS && !stopping()) {
        DWORD max, next, count, timeout, e;
        HANDLE c = CreateFileA(g_name, GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_EXISTING,
                               FILE_ATTRIBUTE_NORMAL, NULL);
        e = GetLastError();
        if (c == INVALID_HANDLE_VALUE) opener_problem("CreateFileA(extra client) failed", e);
        max = next = count = timeout = 0x55555555;
        if (!GetMailslotInfo(g_server, &max, &next, &count, &timeout)) opener_problem("GetMailslotInfo(server) failed", GetLastError());
        else if (!info_consistent(max, next, count, timeout)) {
            char what[160];
            snprintf(what, sizeof what, "GetMailslotInfo(server) inconsistent: max %u next %u count %u timeout %u", (unsigned)max,
                     (unsigned)next, (unsigned)count, (unsigned)timeout);
            opener_problem(what, 0);
        }
        if (c != INVALID_HANDLE_VALUE) {
            max = next = count = timeout = 0x55555555;
            /* Windows 8 and later answer on a client handle too (W38). */
            if (!GetMailslotInfo(c, &max, &next, &count, &timeout)) opener_problem("GetMailslotInfo(client) failed", GetLastError());
            else if (!info_consistent(max, next, count, timeout)) opener_problem("GetMailslotInfo(client) inconsistent", 0);
            if (!CloseHandle(c)) opener_problem("CloseHandle(extra client) failed", GetLastError());
        }
        rounds++;
        Sleep(1);
    }
    pthread_mutex_lock(&g_book);
    g_opener_rounds = rounds;
    pthread_mutex_unlock(&g_book);
    return NULL;
}

/* ---- Blocked read ended by CloseHandle ---------------------------------------------------------- */

struct blocked {
    pthread_mutex_t lock;
    HANDLE h;
    int started, done;
    BOOL ok;
    DWORD err, count;
};
static struct blocked g_blocked[SCRATCH_ROUNDS]; /* static: a thread that never wakes keeps a valid one */

static void *blocked_reader(void *arg)
{
    struct blocked *b = arg;
    unsigned char buf[16];
    DWORD n = 0;
    pthread_mutex_lock(&b->lock);
    b->started = 1;
    pthread_mutex_unlock(&b->lock);
    BOOL ok = ReadFile(b->h, buf, sizeof buf, &n, NULL);
    DWORD e = GetLastError();
    pthread_mutex_lock(&b->lock);
    b->ok = ok;
    b->err = e;
    b->count = n;
    b->done = 1;
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

static int blocked_flag(struct blocked *b, const int *flag, DWORD ms)
{
    DWORD t0 = GetTickCount();
    for (;;) {
        pthread_mutex_lock(&b->lock);
        int v = *flag;
        pthread_mutex_unlock(&b->lock);
        if (v) return 1;
        if (GetTickCount() - t0 >= ms) return 0;
        Sleep(2);
    }
}

static void scratch_problem(int round, const char *what, DWORD e)
{
    char text[200];
    pthread_mutex_lock(&g_book);
    g_scratch_problems++;
    snprintf(text, sizeof text, "round %d: %s (error %u)", round, what, (unsigned)e);
    note(P_SCRATCH, text);
    pthread_mutex_unlock(&g_book);
}

static void *scratcher(void *arg)
{
    int round;
    (void)arg;
    for (round = 0; round < SCRATCH_ROUNDS && !stopping(); round++) {
        struct blocked *b = &g_blocked[round];
        char name[NAME_CHARS];
        pthread_t t;
        HANDLE h, again;
        DWORD e;

        snprintf(name, sizeof name, "%s\\scratch-%d", g_prefix, round);
        h = CreateMailslotA(name, 0, MAILSLOT_WAIT_FOREVER, NULL);
        e = GetLastError();
        if (h == INVALID_HANDLE_VALUE) {
            scratch_problem(round, "CreateMailslotA(scratch, MAILSLOT_WAIT_FOREVER) failed", e);
            continue;
        }
        pthread_mutex_init(&b->lock, NULL);
        b->h = h;
        if (pthread_create(&t, NULL, blocked_reader, b) != 0) {
            scratch_problem(round, "pthread_create failed", 0);
            CloseHandle(h);
            continue;
        }
        if (!blocked_flag(b, &b->started, 2000)) scratch_problem(round, "the blocked reader did not start", 0);
        Sleep(50);
        pthread_mutex_lock(&b->lock);
        int early = b->done;
        pthread_mutex_unlock(&b->lock);
        if (early) scratch_problem(round, "ReadFile on an empty MAILSLOT_WAIT_FOREVER slot returned before the close", b->err);
        if (!CloseHandle(h)) scratch_problem(round, "CloseHandle(scratch server) failed", GetLastError());
        if (blocked_flag(b, &b->done, 2000)) {
            pthread_join(t, NULL);
            pthread_mutex_lock(&b->lock);
            BOOL ok = b->ok;
            DWORD err = b->err;
            pthread_mutex_unlock(&b->lock);
            if (!early) {
                if (!ok && err == ERROR_OPERATION_ABORTED) {
                    pthread_mutex_lock(&g_book);
                    g_scratch_aborted++;
                    pthread_mutex_unlock(&g_book);
                } else {
                    scratch_problem(round, ok ? "the blocked ReadFile succeeded after CloseHandle"
                                              : "the blocked ReadFile failed, but not with ERROR_OPERATION_ABORTED",
                                    err);
                }
            }
        } else {
            scratch_problem(round, "the blocked ReadFile did not return within 2 s of CloseHandle", 0);
            pthread_detach(t);
        }
        /* Closing the last handle deleted the mailslot: the name is free again. */
        again = CreateMailslotA(name, 0, 0, NULL);
        e = GetLastError();
        if (again == INVALID_HANDLE_VALUE) scratch_problem(round, "the scratch name is not free after its last handle closed", e);
        else CloseHandle(again);
        pthread_mutex_lock(&g_book);
        g_scratch_rounds++;
        pthread_mutex_unlock(&g_book);
    }
    return NULL;
}

/* ---- main --------------------------------------------------------------------------------------- */

static void report(int kind, unsigned count, const char *what)
{
    char text[400];
    pthread_mutex_lock(&g_book);
    snprintf(text, sizeof text, "%s: %u (first: %s)", what, count, g_first_problem[kind][0] ? g_first_problem[kind] : "-");
    pthread_mutex_unlock(&g_book);
    CHECK(count == 0, text, 0);
}

int main(int argc, char **argv)
{
    pthread_t readers[READERS], writers[WRITERS], open_thread, scratch_thread, wd;
    int i, s, started_ok = 1;
    unsigned missing = 0, duplicated = 0, phantom = 0;
    char text[300] = "";
    DWORD count = 0x55555555, elapsed;

    if (argc < 2 || strlen(argv[1]) < 14 || strlen(argv[1]) > 300) {
        fprintf(stderr, "usage: %s '\\\\.\\mailslot\\<unique prefix>'\n", argc ? argv[0] : "threads");
        return 2;
    }
    snprintf(g_prefix, sizeof g_prefix, "%s", argv[1]);
    snprintf(g_name, sizeof g_name, "%s\\stress", g_prefix);

    if (pthread_create(&wd, NULL, watchdog, NULL) != 0) return 2;

    g_server = CreateMailslotA(g_name, 0, READ_TIMEOUT_MS, NULL);
    CHECK(g_server != INVALID_HANDLE_VALUE, "CreateMailslotA(stress server, 200 ms timeout)", GetLastError());
    if (g_server == INVALID_HANDLE_VALUE) {
        printf("%d passed, %d failed\n", g_passed, g_failed);
        return 1;
    }
    g_start = GetTickCount();

    for (i = 0; i < READERS; i++) started_ok &= pthread_create(&readers[i], NULL, reader, (void *)(intptr_t)i) == 0;
    for (i = 0; i < WRITERS; i++) started_ok &= pthread_create(&writers[i], NULL, writer, (void *)(intptr_t)i) == 0;
    started_ok &= pthread_create(&open_thread, NULL, opener, NULL) == 0;
    started_ok &= pthread_create(&scratch_thread, NULL, scratcher, NULL) == 0;
    CHECK(started_ok, "pthread_create x8", 0);
    if (!started_ok) {
        printf("%d passed, %d failed\n", g_passed, g_failed);
        return 1;
    }

    for (i = 0; i < WRITERS; i++) pthread_join(writers[i], NULL);
    pthread_mutex_lock(&g_book);
    g_writers_done = 1;
    pthread_mutex_unlock(&g_book);
    for (i = 0; i < READERS; i++) pthread_join(readers[i], NULL);
    pthread_mutex_lock(&g_book);
    g_stop = 1;
    pthread_mutex_unlock(&g_book);
    pthread_join(open_thread, NULL);
    pthread_join(scratch_thread, NULL);
    elapsed = GetTickCount() - g_start;

    pthread_mutex_lock(&g_book);
    for (i = 0; i < WRITERS; i++)
        for (s = 1; s <= MAX_SEQ; s++) {
            if (g_written[i][s] && g_read[i][s] == 0) {
                if (!missing++) snprintf(text, sizeof text, "w%d:%d", i, s);
            } else if (g_written[i][s] && g_read[i][s] > 1) {
                duplicated++;
            } else if (!g_written[i][s] && g_read[i][s]) {
                phantom++;
            }
        }
    printf("stats: %lu messages written, %lu read, %lu refused for quota; %u open/info/close rounds; %u of %u scratch rounds "
           "aborted the blocked read; %u ms\n",
           g_writes, g_reads, g_quota_refusals, g_opener_rounds, g_scratch_aborted, g_scratch_rounds, (unsigned)elapsed);
    fflush(stdout);
    unsigned long writes = g_writes;
    unsigned opener_rounds = g_opener_rounds, scratch_rounds = g_scratch_rounds, scratch_aborted = g_scratch_aborted;
    unsigned open_errors = g_open_errors, write_errors = g_write_errors, read_errors = g_read_errors;
    unsigned bad = g_bad_messages, order = g_order_errors, opener_problems = g_opener_problems, scratch_problems = g_scratch_problems;
    int per_writer_ok = 1;
    for (i = 0; i < WRITERS; i++) per_writer_ok &= g_written[i][1];
    pthread_mutex_unlock(&g_book);

    report(P_OPEN, open_errors, "writer clients: CreateFileA/CloseHandle failures");
    report(P_WRITE, write_errors, "WriteFile failures (other than ERROR_NOT_ENOUGH_QUOTA)");
    report(P_READ, read_errors, "ReadFile failures (other than ERROR_SEM_TIMEOUT)");
    report(P_BAD, bad, "malformed messages read");
    report(P_ORDER, order, "per-writer order violations seen by a reader");
    CHECK(writes > 0 && per_writer_ok, "every writer wrote at least one message", 0);
    {
        char what[400];
        snprintf(what, sizeof what, "every written message was read: %u missing%s%s", missing, missing ? ", first " : "",
                 missing ? text : "");
        CHECK(missing == 0, what, 0);
        snprintf(what, sizeof what, "no message was read twice: %u duplicated", duplicated);
        CHECK(duplicated == 0, what, 0);
        snprintf(what, sizeof what, "no message was read that WriteFile did not report written: %u", phantom);
        CHECK(phantom == 0, what, 0);
    }
    CHECK(GetMailslotInfo(g_server, NULL, NULL, &count, NULL) && count == 0, "the queue is empty at the end", GetLastError());
    CHECK(opener_rounds > 0, "the open/close thread ran", 0);
    report(P_OPENER, opener_problems, "open/GetMailslotInfo/close problems");
    CHECK(scratch_rounds > 0, "the scratch thread ran", 0);
    report(P_SCRATCH, scratch_problems, "blocked-read-then-CloseHandle problems");
    CHECK(scratch_aborted == scratch_rounds, "every blocked ReadFile ended with ERROR_OPERATION_ABORTED (995) on CloseHandle", 0);
    CHECK(CloseHandle(g_server), "CloseHandle(stress server)", GetLastError());

    pthread_mutex_lock(&g_lock);
    g_finished = 1;
    pthread_mutex_unlock(&g_lock);
    pthread_join(wd, NULL);

    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed ? 1 : 0;
}
