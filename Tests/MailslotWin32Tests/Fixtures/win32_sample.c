/* Windows-style mailslot code, unchanged but for the header: it must compile and behave as on Windows. */
#define _POSIX_C_SOURCE 200809L
#include "mailslot_win32.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int passed = 0, failed = 0;
#define CHECK(cond, what)                                                                                  \
    do {                                                                                                   \
        if (cond) passed++;                                                                                \
        else { failed++; printf("FAILED: %s (GetLastError %u)\n", what, GetLastError()); }                 \
    } while (0)

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *name = argv[1];
    char upper[512];
    snprintf(upper, sizeof upper, "%s", name);
    for (char *p = upper; *p; p++) if (*p >= 'a' && *p <= 'z') *p -= 32;

    HANDLE server = CreateMailslotA(name, 0, 0, NULL);
    CHECK(server != INVALID_HANDLE_VALUE, "CreateMailslotA");
    CHECK(CreateMailslotA(upper, 0, 0, NULL) == INVALID_HANDLE_VALUE && GetLastError() == ERROR_ALREADY_EXISTS, "duplicate (other case) -> 183");
    CHECK(CreateMailslotA("blah", 0, 0, NULL) == INVALID_HANDLE_VALUE && GetLastError() == ERROR_INVALID_NAME, "W1 blah -> 123");
    CHECK(CreateMailslotA(NULL, 0, 0, NULL) == INVALID_HANDLE_VALUE && GetLastError() == ERROR_PATH_NOT_FOUND, "W2 NULL -> 3");
    CHECK(CreateFileA("\\\\.\\mailslot\\no\\such\\slot", GENERIC_WRITE, FILE_SHARE_READ, NULL, OPEN_EXISTING,
                      FILE_ATTRIBUTE_NORMAL, NULL) == INVALID_HANDLE_VALUE && GetLastError() == ERROR_FILE_NOT_FOUND, "W10 missing -> 2");

    DWORD max = 1, next = 0, count = 9, timeout = 9, n = 0;
    CHECK(GetMailslotInfo(server, &max, &next, &count, &timeout), "W4 GetMailslotInfo");
    CHECK(max == 0 && next == MAILSLOT_NO_MESSAGE && count == 0 && timeout == 0, "W4 values");

    char buf[16];
    CHECK(!ReadFile(server, buf, 16, &n, NULL) && GetLastError() == ERROR_SEM_TIMEOUT && n == 0, "W18 empty read -> 121");
    CHECK(!WriteFile(server, "x", 1, &n, NULL) && GetLastError() == ERROR_ACCESS_DENIED, "W19 write server -> 5");

    HANDLE c1 = CreateFileA(name, GENERIC_WRITE, FILE_SHARE_READ, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    HANDLE c2 = CreateFileA(upper, GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    CHECK(c1 != INVALID_HANDLE_VALUE && c2 != INVALID_HANDLE_VALUE, "W12/W14 CreateFileA x2");
    CHECK(!ReadFile(c1, buf, 16, &n, NULL) && GetLastError() == ERROR_INVALID_PARAMETER, "W21 read client -> 87");

    CHECK(WriteFile(c1, "a", 1, &n, NULL) && n == 1, "W25 write a");
    CHECK(WriteFile(c2, "bc", 2, &n, NULL) && n == 2, "W26 write bc");
    CHECK(WriteFile(c2, "", 0, &n, NULL) && n == 0, "W27 zero-length write");
    CHECK(GetMailslotInfo(server, NULL, &next, &count, NULL) && next == 1 && count == 3, "W27 next 1 count 3");
    CHECK(ReadFile(server, buf, 16, &n, NULL) && n == 1 && buf[0] == 'a', "W28 read a");
    CHECK(!ReadFile(server, buf, 1, &n, NULL) && GetLastError() == ERROR_INSUFFICIENT_BUFFER, "W33 short buffer -> 122");
    CHECK(GetMailslotInfo(server, NULL, &next, &count, NULL) && next == 2 && count == 2, "W33 message stays");
    CHECK(ReadFile(server, buf, 16, &n, NULL) && n == 2 && memcmp(buf, "bc", 2) == 0, "W29 read bc");
    CHECK(GetMailslotInfo(server, NULL, &next, NULL, NULL) && next == 0, "W29 next 0");
    CHECK(ReadFile(server, buf, 16, &n, NULL) && n == 0, "W30 zero-length read");
    CHECK(GetMailslotInfo(server, NULL, NULL, NULL, NULL), "W36 all NULL");

    CHECK(SetMailslotInfo(server, 200), "SetMailslotInfo");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK(!ReadFile(server, buf, 16, &n, NULL) && GetLastError() == ERROR_SEM_TIMEOUT, "timed read -> 121");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK(ms >= 180, "200 ms timeout waited at least 90%");

    CHECK(CloseHandle(c1) && CloseHandle(c2), "CloseHandle clients");
    CHECK(CloseHandle(server), "CloseHandle server");
    CHECK(!CloseHandle(server) && GetLastError() == ERROR_INVALID_HANDLE, "double close -> 6");
    CHECK(!GetMailslotInfo(INVALID_HANDLE_VALUE, NULL, NULL, NULL, NULL) && GetLastError() == ERROR_INVALID_HANDLE, "W35 invalid handle");
    server = CreateMailslotA(name, 424, MAILSLOT_WAIT_FOREVER, NULL);
    CHECK(server != INVALID_HANDLE_VALUE, "W5 name free again");
    HANDLE c3 = CreateFileA(name, GENERIC_WRITE, FILE_SHARE_READ, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    char big[425] = {0};
    CHECK(!WriteFile(c3, big, 425, &n, NULL) && GetLastError() == ERROR_MESSAGE_EXCEEDS_MAX_SIZE, "over max -> 4336");
    CloseHandle(c3);
    CloseHandle(server);

    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
