/* ms_client NAME MESSAGE...: a mailslot client written the way Windows code writes to a mailslot.
 * Opens NAME with CreateFile, writes each MESSAGE (its bytes, without a NUL) with one WriteFile and
 * prints "written <n>" for each. Exit 0 on success; 1 on a failed call ("error <GetLastError()>",
 * e.g. "error 2" when no server has created NAME); 2 on bad usage. */
#include "mailslot_win32.h" /* stands where #include <windows.h> would */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static BOOL WriteSlot(HANDLE hSlot, LPCTSTR lpszMessage)
{
    DWORD cbWritten = 0;

    if (!WriteFile(hSlot,
                   lpszMessage,
                   (DWORD)lstrlen(lpszMessage),     /* the text only, no terminating NUL */
                   &cbWritten,
                   NULL))
        return FALSE;

    printf("written %lu\n", (unsigned long)cbWritten);
    fflush(stdout);
    return TRUE;
}

int main(int argc, char *argv[])
{
    HANDLE hFile;
    int i;

    if (argc < 3)
    {
        fprintf(stderr, "usage: %s NAME MESSAGE...\n", argv[0]);
        return 2;
    }

    hFile = CreateFile(argv[1],
                       GENERIC_WRITE,
                       FILE_SHARE_READ,
                       NULL,                    /* default security */
                       OPEN_EXISTING,
                       FILE_ATTRIBUTE_NORMAL,
                       NULL);                   /* no template file */
    if (hFile == INVALID_HANDLE_VALUE)
    {
        printf("error %lu\n", (unsigned long)GetLastError());
        return 1;
    }

    for (i = 2; i < argc; i++)
    {
        if (!WriteSlot(hFile, argv[i]))
        {
            printf("error %lu\n", (unsigned long)GetLastError());
            CloseHandle(hFile);
            return 1;
        }
    }

    if (!CloseHandle(hFile))
    {
        printf("error %lu\n", (unsigned long)GetLastError());
        return 1;
    }
    return 0;
}
