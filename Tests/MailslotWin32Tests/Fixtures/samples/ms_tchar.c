/* ms_tchar NAME: both ends of a mailslot in one program, written with TCHAR so that it builds as
 * Windows code does with -DUNICODE (the W functions, 16-bit TCHAR) or without it (the A functions).
 * NAME is a full mailslot name (\\.\mailslot\...) or just the part after \\.\mailslot\.
 * Prints one line per check that fails, then "N passed, M failed"; exit 0 if none failed, 1 otherwise,
 * 2 on bad usage. */
#include "mailslot_win32.h" /* stands where #include <windows.h> would */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_CHARS 512

static int passed = 0, failed = 0;

static void Check(BOOL ok, const char *what)
{
    if (ok)
        passed++;
    else
    {
        failed++;
        printf("FAILED: %s (GetLastError %lu)\n", what, (unsigned long)GetLastError());
    }
}

/* Narrow (UTF-8) to TCHAR. Returns FALSE if it does not fit or is not valid UTF-8. */
static BOOL ToTchar(const char *in, LPTSTR out, size_t cchOut)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t n = 0;

    while (*p)
    {
#ifdef UNICODE
        unsigned long c;
        int more, i;
        if (*p < 0x80)       { c = *p; more = 0; }
        else if (*p >= 0xF0) { c = *p & 0x07; more = 3; }
        else if (*p >= 0xE0) { c = *p & 0x0F; more = 2; }
        else if (*p >= 0xC0) { c = *p & 0x1F; more = 1; }
        else return FALSE;
        p++;
        for (i = 0; i < more; i++, p++)
        {
            if ((*p & 0xC0) != 0x80)
                return FALSE;
            c = (c << 6) | (*p & 0x3F);
        }
        if (c >= 0x10000)
        {
            if (n + 2 >= cchOut)
                return FALSE;
            c -= 0x10000;
            out[n++] = (TCHAR)(0xD800 + (c >> 10));
            out[n++] = (TCHAR)(0xDC00 + (c & 0x3FF));
            continue;
        }
        if (n + 1 >= cchOut)
            return FALSE;
        out[n++] = (TCHAR)c;
#else
        if (n + 1 >= cchOut)
            return FALSE;
        out[n++] = (TCHAR)*p++;
#endif
    }
    out[n] = 0;
    return TRUE;
}

/* TCHAR to narrow for printf, which cannot print 16-bit strings: ASCII as is, anything else as '?'. */
static const char *Narrow(LPCTSTR in, char *out, size_t cbOut)
{
    size_t n = 0;
    while (in[n] != 0 && n + 1 < cbOut)
    {
        unsigned int c = (unsigned int)in[n];
        out[n] = (c < 0x80) ? (char)c : '?';
        n++;
    }
    out[n] = '\0';
    return out;
}

int main(int argc, char *argv[])
{
    static LPCTSTR messages[3] = {
        TEXT("Message one for mailslot."),
        TEXT("Message two for mailslot."),
        TEXT("Message three for mailslot."),
    };
    TCHAR szSlot[NAME_CHARS], szUpper[NAME_CHARS], szArg[NAME_CHARS];
    char szPrint[NAME_CHARS];
    HANDLE hSlot, hFile, hEvent;
    DWORD cbMessage, cMessage, cbRead, cbWritten, dwTimeout;
    OVERLAPPED ov;
    int i;

    if (argc != 2 || !ToTchar(argv[1], szArg, NAME_CHARS - 16))
    {
        fprintf(stderr, "usage: %s NAME\n", argv[0]);
        return 2;
    }

    /* A full name is used as given; a short one goes under \\.\mailslot\. */
    if (szArg[0] == TEXT('\\'))
        lstrcpy(szSlot, szArg);
    else
    {
        size_t cchPrefix;
        lstrcpy(szSlot, TEXT("\\\\.\\mailslot\\"));
        cchPrefix = (size_t)lstrlen(szSlot);
        lstrcpy(szSlot + cchPrefix, szArg);
    }

    /* The same name in another case: mailslot names do not depend on case. */
    for (i = 0; szSlot[i] != 0; i++)
        szUpper[i] = (szSlot[i] >= TEXT('a') && szSlot[i] <= TEXT('z')) ? (TCHAR)(szSlot[i] - TEXT('a') + TEXT('A')) : szSlot[i];
    szUpper[i] = 0;
    Check(lstrcmp(szSlot, szUpper) != 0, "upper-case name differs from the name");

    hSlot = CreateMailslot(szSlot, 0, MAILSLOT_WAIT_FOREVER, NULL);
    Check(hSlot != INVALID_HANDLE_VALUE, "CreateMailslot");
    if (hSlot == INVALID_HANDLE_VALUE)
    {
        printf("%d passed, %d failed\n", passed, failed);
        return 1;
    }
    printf("mailslot %s\n", Narrow(szSlot, szPrint, sizeof(szPrint)));

    Check(SetMailslotInfo(hSlot, 2000), "SetMailslotInfo 2000");
    dwTimeout = 0;
    Check(GetMailslotInfo(hSlot, NULL, NULL, NULL, &dwTimeout) && dwTimeout == 2000, "GetMailslotInfo read time-out 2000");

    hFile = CreateFile(szUpper, GENERIC_WRITE, FILE_SHARE_READ, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    Check(hFile != INVALID_HANDLE_VALUE, "CreateFile (other case)");

    if (hFile != INVALID_HANDLE_VALUE)
    {
        for (i = 0; i < 3; i++)
        {
            DWORD cbMsg = (DWORD)((lstrlen(messages[i]) + 1) * sizeof(TCHAR));
            cbWritten = 0;
            Check(WriteFile(hFile, messages[i], cbMsg, &cbWritten, NULL) && cbWritten == cbMsg, "WriteFile");
        }
        Check(CloseHandle(hFile), "CloseHandle client");
    }

    hEvent = CreateEvent(NULL, FALSE, FALSE, NULL);
    Check(hEvent != NULL, "CreateEvent");
    ZeroMemory(&ov, sizeof(ov));
    ov.hEvent = hEvent;

    cbMessage = cMessage = 0;
    Check(GetMailslotInfo(hSlot, NULL, &cbMessage, &cMessage, NULL) && cMessage == 3, "GetMailslotInfo: three messages");

    for (i = 0; i < 3; i++)
    {
        TCHAR achMessage[128];
        DWORD cbExpected = (DWORD)((lstrlen(messages[i]) + 1) * sizeof(TCHAR));

        cbMessage = cMessage = 0;
        if (!GetMailslotInfo(hSlot, NULL, &cbMessage, &cMessage, NULL))
        {
            Check(FALSE, "GetMailslotInfo");
            break;
        }
        Check(cbMessage == cbExpected && cMessage == (DWORD)(3 - i), "GetMailslotInfo size and count of next message");
        if (cbMessage == MAILSLOT_NO_MESSAGE || cbMessage > sizeof(achMessage))
            break;

        ZeroMemory(achMessage, sizeof(achMessage));
        cbRead = 0;
        Check(ReadFile(hSlot, achMessage, cbMessage, &cbRead, &ov) && cbRead == cbExpected, "ReadFile");
        Check(lstrcmp(achMessage, messages[i]) == 0, "message read back unchanged and in order");
        printf("message %d: %s\n", i + 1, Narrow(achMessage, szPrint, sizeof(szPrint)));
    }

    cbMessage = 0;
    cMessage = 9;
    Check(GetMailslotInfo(hSlot, NULL, &cbMessage, &cMessage, NULL) && cbMessage == MAILSLOT_NO_MESSAGE && cMessage == 0,
          "GetMailslotInfo: empty again");

    if (hEvent != NULL)
        Check(CloseHandle(hEvent), "CloseHandle event");
    Check(CloseHandle(hSlot), "CloseHandle server");

    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
