/* GetMailslotInfo and NtQueryInformationFile on a client handle (W38) when the server is another process.
 * Usage: clientinfo NAME. Writes "abc" and "de", then prints what both calls report about the mailslot. */
#include "mailslot_win32.h"

#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    HANDLE client = CreateFileA(argv[1], GENERIC_WRITE, FILE_SHARE_READ, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    if (client == INVALID_HANDLE_VALUE) {
        printf("error %u\n", GetLastError());
        return 1;
    }
    DWORD n = 0, max = 1, next = 1, count = 1, timeout = 1;
    if (!WriteFile(client, "abc", 3, &n, NULL) || !WriteFile(client, "de", 2, &n, NULL)) {
        printf("error %u\n", GetLastError());
        return 1;
    }
    if (!GetMailslotInfo(client, &max, &next, &count, &timeout)) {
        printf("error %u\n", GetLastError());
        return 1;
    }
    printf("GetMailslotInfo max=%u next=%u count=%u timeout=%u\n", max, next, count, timeout);
    FILE_MAILSLOT_QUERY_INFORMATION info;
    IO_STATUS_BLOCK iosb;
    NTSTATUS status = NtQueryInformationFile(client, &iosb, &info, sizeof info, FileMailslotQueryInformation);
    printf("NtQueryInformationFile status=0x%08x information=%lu max=%u next=%u count=%u timeout=%lld\n", (unsigned)status,
           (unsigned long)iosb.Information, info.MaximumMessageSize, info.NextMessageSize, info.MessagesAvailable,
           (long long)info.ReadTimeout.QuadPart);
    CloseHandle(client);
    return 0;
}
