/* A server whose security descriptor comes from an SDDL string (or none: "-"), for the cross-user tests.
 * Usage: access NAME SDDL|- COUNT TIMEOUT_MS. Prints "ready", then "message: <text>" for each message;
 * exits 0 after COUNT messages, 3 when TIMEOUT_MS passes without one, 1 on any other failure. */
#include "mailslot_win32.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 5) return 2;
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, FALSE};
    PSECURITY_DESCRIPTOR sd = NULL;
    if (strcmp(argv[2], "-") != 0) {
        if (!ConvertStringSecurityDescriptorToSecurityDescriptorA(argv[2], SDDL_REVISION_1, &sd, NULL)) {
            printf("error %u\n", GetLastError());
            return 1;
        }
        sa.lpSecurityDescriptor = sd;
    }
    HANDLE h = CreateMailslotA(argv[1], 0, (DWORD)atoi(argv[4]), &sa);
    LocalFree(sd);
    if (h == INVALID_HANDLE_VALUE) {
        printf("error %u\n", GetLastError());
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    for (int i = 0; i < atoi(argv[3]); i++) {
        char buf[512];
        DWORD n = 0;
        if (!ReadFile(h, buf, sizeof buf - 1, &n, NULL)) {
            printf("error %u\n", GetLastError());
            return GetLastError() == ERROR_SEM_TIMEOUT ? 3 : 1;
        }
        buf[n] = 0;
        printf("message: %s\n", buf);
        fflush(stdout);
    }
    CloseHandle(h);
    return 0;
}
