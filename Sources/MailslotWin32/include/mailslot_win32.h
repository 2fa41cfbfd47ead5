/*
 * mailslot_win32.h: the Win32 mailslot API on Linux, backed by the Mailslot library.
 *
 * Existing Windows mailslot code compiles against this header and links with -lMailslotWin32:
 *   CreateMailslotA, GetMailslotInfo, SetMailslotInfo, CreateFileA (mailslot names only),
 *   ReadFile, WriteFile, CloseHandle, GetLastError, SetLastError.
 * Error codes are Win32's (ERROR_FILE_NOT_FOUND, ERROR_SEM_TIMEOUT, ...). Overlapped I/O is not
 * supported: pass NULL for lpOverlapped (ERROR_INVALID_PARAMETER otherwise).
 */
#ifndef MAILSLOT_WIN32_H
#define MAILSLOT_WIN32_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void *HANDLE;
typedef uint32_t DWORD;
typedef DWORD *LPDWORD;
typedef int BOOL;
typedef const char *LPCSTR;
typedef void *LPVOID;
typedef const void *LPCVOID;

typedef struct _SECURITY_ATTRIBUTES {
    DWORD nLength;
    LPVOID lpSecurityDescriptor; /* ignored; see MAILSLOT_ACCESS_* below */
    BOOL bInheritHandle;          /* ignored: use the Swift API's inheritableHandle() to hand a server to a child */
} SECURITY_ATTRIBUTES, *PSECURITY_ATTRIBUTES, *LPSECURITY_ATTRIBUTES;

typedef struct _OVERLAPPED OVERLAPPED, *LPOVERLAPPED;

#define TRUE 1
#define FALSE 0
#define INVALID_HANDLE_VALUE ((HANDLE)(intptr_t)-1)
#define MAILSLOT_WAIT_FOREVER ((DWORD)-1)
#define MAILSLOT_NO_MESSAGE ((DWORD)-1)

#define GENERIC_READ 0x80000000u
#define GENERIC_WRITE 0x40000000u
#define FILE_SHARE_READ 0x00000001u
#define FILE_SHARE_WRITE 0x00000002u
#define OPEN_EXISTING 3u
#define FILE_ATTRIBUTE_NORMAL 0x00000080u

#define ERROR_SUCCESS 0u
#define ERROR_FILE_NOT_FOUND 2u
#define ERROR_PATH_NOT_FOUND 3u
#define ERROR_ACCESS_DENIED 5u
#define ERROR_INVALID_HANDLE 6u
#define ERROR_BAD_NETPATH 53u
#define ERROR_INVALID_PARAMETER 87u
#define ERROR_BROKEN_PIPE 109u
#define ERROR_SEM_TIMEOUT 121u
#define ERROR_INSUFFICIENT_BUFFER 122u
#define ERROR_INVALID_NAME 123u
#define ERROR_ALREADY_EXISTS 183u
#define ERROR_FILENAME_EXCED_RANGE 206u
#define ERROR_NOT_ENOUGH_QUOTA 1816u
#define ERROR_MESSAGE_EXCEEDS_MAX_SIZE 4336u

/* Creates \\.\mailslot\[path]name. lpSecurityAttributes may be NULL. By default only this user (and
 * root) may write; set MAILSLOT_ACCESS=everyone in the environment before the call to let every user write. */
HANDLE CreateMailslotA(LPCSTR lpName, DWORD nMaxMessageSize, DWORD lReadTimeout, LPSECURITY_ATTRIBUTES lpSecurityAttributes);
BOOL GetMailslotInfo(HANDLE hMailslot, LPDWORD lpMaxMessageSize, LPDWORD lpNextSize, LPDWORD lpMessageCount, LPDWORD lpReadTimeout);
BOOL SetMailslotInfo(HANDLE hMailslot, DWORD lReadTimeout);
/* Opens a mailslot for writing: \\.\mailslot\x, \\COMPUTER\mailslot\x, \\DOMAIN\mailslot\x, \\*\mailslot\x.
 * Other file names fail with ERROR_INVALID_NAME: this is not a general CreateFile. */
HANDLE CreateFileA(LPCSTR lpFileName, DWORD dwDesiredAccess, DWORD dwShareMode, LPSECURITY_ATTRIBUTES lpSecurityAttributes,
                   DWORD dwCreationDisposition, DWORD dwFlagsAndAttributes, HANDLE hTemplateFile);
BOOL ReadFile(HANDLE hFile, LPVOID lpBuffer, DWORD nNumberOfBytesToRead, LPDWORD lpNumberOfBytesRead, LPOVERLAPPED lpOverlapped);
BOOL WriteFile(HANDLE hFile, LPCVOID lpBuffer, DWORD nNumberOfBytesToWrite, LPDWORD lpNumberOfBytesWritten, LPOVERLAPPED lpOverlapped);
BOOL CloseHandle(HANDLE hObject);
DWORD GetLastError(void);
void SetLastError(DWORD dwErrCode);

#ifdef __cplusplus
}
#endif
#endif
