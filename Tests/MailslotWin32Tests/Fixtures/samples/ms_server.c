/* ms_server NAME COUNT: a mailslot server written the way Windows code reads a mailslot.
 * Prints "ready" once the mailslot exists, then "message <n>: <text>" for each of COUNT messages.
 * Exit 0 after COUNT messages; 1 on a failed call ("error <GetLastError()>"); 2 on bad usage;
 * 3 if COUNT messages have not arrived within 10 seconds ("timeout"). */
#include "mailslot_win32.h" /* stands where #include <windows.h> would */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEADLINE_MS 10000

static HANDLE hSlot = INVALID_HANDLE_VALUE;

static int Fail(void)
{
    printf("error %lu\n", (unsigned long)GetLastError());
    return 1;
}

/* Reads the message at the head of the mailslot (cbMessage bytes) and prints it as message number n. */
static BOOL ReadOneMessage(DWORD cbMessage, DWORD n)
{
    OVERLAPPED ov;
    HANDLE hEvent;
    DWORD cbRead = 0, cbResult = 0;
    char *lpszBuffer;
    BOOL fResult;

    hEvent = CreateEvent(NULL, FALSE, FALSE, NULL);
    if (hEvent == NULL)
        return FALSE;

    ZeroMemory(&ov, sizeof(ov));
    ov.Offset = 0;
    ov.OffsetHigh = 0;
    ov.hEvent = hEvent;

    lpszBuffer = (char *)malloc(cbMessage > 0 ? cbMessage : 1);
    if (lpszBuffer == NULL)
    {
        CloseHandle(hEvent);
        return FALSE;
    }

    fResult = ReadFile(hSlot, lpszBuffer, cbMessage, &cbRead, &ov);
    if (fResult)
    {
        /* The read completed at once, so the event must already be signalled and the
         * overlapped result must agree with the byte count ReadFile returned. */
        if (WaitForSingleObject(hEvent, 0) != WAIT_OBJECT_0)
        {
            printf("event not signalled after ReadFile\n");
            fResult = FALSE;
        }
        else if (!GetOverlappedResult(hSlot, &ov, &cbResult, FALSE))
        {
            fResult = FALSE;
        }
        else if (cbResult != cbRead || cbRead != cbMessage)
        {
            printf("byte counts disagree: message %lu, ReadFile %lu, GetOverlappedResult %lu\n",
                   (unsigned long)cbMessage, (unsigned long)cbRead, (unsigned long)cbResult);
            fResult = FALSE;
        }
    }

    if (fResult)
    {
        DWORD cbText = cbRead;
        if (cbText > 0 && lpszBuffer[cbText - 1] == '\0')
            cbText--;                           /* a trailing NUL is not part of the text */
        printf("message %lu: %.*s\n", (unsigned long)n, (int)cbText, lpszBuffer);
        fflush(stdout);
    }

    free(lpszBuffer);
    CloseHandle(hEvent);
    return fResult;
}

int main(int argc, char *argv[])
{
    DWORD cbMessage, cMessage, cWanted, cDone = 0;
    DWORD dwStart;
    char *end;

    if (argc != 3)
    {
        fprintf(stderr, "usage: %s NAME COUNT\n", argv[0]);
        return 2;
    }
    cWanted = (DWORD)strtoul(argv[2], &end, 10);
    if (*argv[2] == '\0' || *end != '\0')
    {
        fprintf(stderr, "usage: %s NAME COUNT\n", argv[0]);
        return 2;
    }

    hSlot = CreateMailslot(argv[1],                /* mailslot name */
                           0,                      /* no maximum message size */
                           MAILSLOT_WAIT_FOREVER,  /* no time-out for operations */
                           NULL);                  /* default security */
    if (hSlot == INVALID_HANDLE_VALUE)
        return Fail();

    printf("ready\n");
    fflush(stdout);

    dwStart = GetTickCount();
    while (cDone < cWanted)
    {
        cbMessage = cMessage = 0;
        if (!GetMailslotInfo(hSlot,          /* mailslot handle */
                             NULL,           /* no maximum message size */
                             &cbMessage,     /* size of next message */
                             &cMessage,      /* number of messages */
                             NULL))          /* no read time-out */
        {
            int rc = Fail();
            CloseHandle(hSlot);
            return rc;
        }

        if (cbMessage == MAILSLOT_NO_MESSAGE)
        {
            if (GetTickCount() - dwStart >= DEADLINE_MS)
            {
                printf("timeout\n");
                CloseHandle(hSlot);
                return 3;
            }
            Sleep(20);
            continue;
        }

        /* Read every waiting message, asking for the size of the next one each time. */
        while (cMessage != 0 && cDone < cWanted)
        {
            if (!ReadOneMessage(cbMessage, cDone + 1))
            {
                int rc = Fail();
                CloseHandle(hSlot);
                return rc;
            }
            cDone++;

            if (!GetMailslotInfo(hSlot, NULL, &cbMessage, &cMessage, NULL))
            {
                int rc = Fail();
                CloseHandle(hSlot);
                return rc;
            }
            if (cbMessage == MAILSLOT_NO_MESSAGE)
                break;
        }
    }

    CloseHandle(hSlot);
    return 0;
}
