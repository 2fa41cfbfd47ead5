/* bInheritHandle: a server handle created inheritable is valid in a child started with exec, under the
 * same HANDLE value (passed on the command line, as Windows programs do); a handle that is not
 * inheritable is not. Usage: inherit NAME (parent) | inherit --child SERVER OTHER (child). */
#define _POSIX_C_SOURCE 200809L
#include "mailslot_win32.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int passed = 0, failed = 0;
#define CHECK(cond, what)                                                                                  \
    do {                                                                                                   \
        if (cond) passed++;                                                                                \
        else { failed++; printf("FAILED: %s (GetLastError %u)\n", what, GetLastError()); }                 \
    } while (0)

static int child(HANDLE server, HANDLE other) {
    char buf[64];
    DWORD n = 0;
    CHECK(ReadFile(server, buf, sizeof buf, &n, NULL) && n == 5 && memcmp(buf, "hello", 5) == 0,
          "child reads the parent's message through the inherited handle");
    DWORD count = 9;
    CHECK(GetMailslotInfo(server, NULL, NULL, &count, NULL) && count == 0, "child: the mailslot is empty now");
    CHECK(!ReadFile(other, buf, sizeof buf, &n, NULL) && GetLastError() == ERROR_INVALID_HANDLE,
          "child: a handle that was not inheritable is not valid");
    CHECK(CloseHandle(server), "child closes its handle");
    printf("child: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--child") == 0)
        return child((HANDLE)(uintptr_t)strtoull(argv[2], NULL, 16), (HANDLE)(uintptr_t)strtoull(argv[3], NULL, 16));
    if (argc != 2) return 2;
    char other_name[300];
    snprintf(other_name, sizeof other_name, "%s-other", argv[1]);

    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
    HANDLE server = CreateMailslotA(argv[1], 0, 2000, &sa);
    CHECK(server != INVALID_HANDLE_VALUE, "CreateMailslotA with bInheritHandle TRUE");
    HANDLE other = CreateMailslotA(other_name, 0, 0, NULL);
    CHECK(other != INVALID_HANDLE_VALUE, "CreateMailslotA without inheritance");
    DWORD flags = 0;
    CHECK(GetHandleInformation(server, &flags) && (flags & HANDLE_FLAG_INHERIT), "HANDLE_FLAG_INHERIT is set");
    HANDLE writer = CreateFileA(argv[1], GENERIC_WRITE, FILE_SHARE_READ, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    DWORD n = 0;
    CHECK(WriteFile(writer, "hello", 5, &n, NULL) && n == 5, "WriteFile");

    char h1[32], h2[32];
    snprintf(h1, sizeof h1, "%llx", (unsigned long long)(uintptr_t)server);
    snprintf(h2, sizeof h2, "%llx", (unsigned long long)(uintptr_t)other);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", argv[0], "--child", h1, h2, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child passed");

    /* The parent's handle still works, and the mailslot still exists. */
    CHECK(WriteFile(writer, "again", 5, &n, NULL), "the parent still writes after the child closed its handle");
    char buf[16];
    CHECK(ReadFile(server, buf, sizeof buf, &n, NULL) && n == 5, "the parent still reads");
    CHECK(SetHandleInformation(server, HANDLE_FLAG_INHERIT, 0) && GetHandleInformation(server, &flags) && !(flags & HANDLE_FLAG_INHERIT),
          "SetHandleInformation clears inheritance");
    CloseHandle(writer);
    CloseHandle(other);
    CHECK(CloseHandle(server), "CloseHandle");
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
