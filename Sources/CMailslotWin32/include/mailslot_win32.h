/*
 * mailslot_win32.h: the Win32 (and NT) mailslot API on Linux, backed by the Mailslot library.
 *
 * Windows mailslot code compiles against this header where it included <windows.h> (and <winternl.h>),
 * and links with the one shared library:
 *
 *     cc app.c $(pkg-config --cflags --libs mailslot-win32)
 *
 * What it provides, with Windows' names, types and semantics:
 *   - mailslots: CreateMailslotA/W, GetMailslotInfo, SetMailslotInfo, CreateFileA/W (mailslot names only),
 *     ReadFile, WriteFile (with or without an OVERLAPPED), CloseHandle, DuplicateHandle (within the process);
 *   - waiting: CreateEventA/W, SetEvent, ResetEvent, WaitForSingleObject, WaitForMultipleObjects,
 *     GetOverlappedResult, CancelIo, CancelIoEx, Sleep, GetTickCount, GetTickCount64;
 *   - security: SECURITY_ATTRIBUTES, ConvertStringSecurityDescriptorToSecurityDescriptorA/W, LocalFree,
 *     InitializeSecurityDescriptor, SetSecurityDescriptorDacl;
 *   - the NT layer: NtCreateMailslotFile, NtReadFile, NtWriteFile, NtQueryInformationFile,
 *     NtSetInformationFile, NtClose, RtlInitUnicodeString, RtlNtStatusToDosError;
 *   - the helpers Windows code takes for granted: GetLastError/SetLastError (per thread), ZeroMemory,
 *     CopyMemory, lstrlen/lstrcmp/lstrcmpi/lstrcpy/lstrcat (A and W), LocalAlloc, GlobalAlloc/GlobalFree.
 *
 * Differences from Windows that a port must know (the man page mailslot_win32(3) has the whole list):
 *   - WCHAR is 16 bits, as on Windows, but Linux's wchar_t (and so L"...") is 32 bits: write wide
 *     literals as TEXT("...") or u"..." (or compile with -fshort-wchar, which makes L"..." 16-bit and
 *     WCHAR wchar_t).
 *   - Handles and event names belong to this process. A handle created with bInheritHandle = TRUE (or
 *     made inheritable by DuplicateHandle/SetHandleInformation) is inherited by children started with
 *     exec, under the same HANDLE value, as on Windows: pass the value on the command line as usual.
 *   - A security descriptor maps onto the mailslot's access rule: who may write. See
 *     ConvertStringSecurityDescriptorToSecurityDescriptorA below.
 *   - Remote writes (\\COMPUTER\mailslot\x, \\DOMAIN\mailslot\x, \\*\mailslot\x) go over the Windows
 *     Remote Mailslot Protocol, as on Windows before 11 24H2.
 */
#ifndef MAILSLOT_WIN32_H
#define MAILSLOT_WIN32_H

/* What <windows.h> brings with it that mailslot code relies on. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if !defined(__cplusplus)
#include <uchar.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Calling conventions and annotations (empty on Linux) ---------------------------------------- */
#define WINAPI
#define WINBASEAPI
#define APIENTRY
#define CALLBACK
#define NTAPI
#define NTSYSAPI
#define IN
#define OUT
#define OPTIONAL
#define CONST const
#define VOID void

/* ---- Basic types -------------------------------------------------------------------------------- */
typedef int BOOL;
typedef unsigned char BOOLEAN;
typedef unsigned char BYTE, UCHAR;
typedef uint16_t WORD, USHORT;
typedef uint32_t DWORD, ULONG, UINT;
typedef int32_t LONG, INT;
typedef short SHORT;
typedef int64_t LONGLONG;
typedef uint64_t ULONGLONG, DWORD64;
typedef uintptr_t ULONG_PTR, DWORD_PTR, SIZE_T;
typedef intptr_t LONG_PTR;
typedef char CHAR;
#if defined(__SIZEOF_WCHAR_T__) && __SIZEOF_WCHAR_T__ == 2
typedef wchar_t WCHAR; /* -fshort-wchar: L"..." literals are WCHAR strings */
#define MAILSLOT_WIDE_(x) L##x
#else
typedef char16_t WCHAR; /* 16-bit, as on Windows: write u"..." (or TEXT("...") under UNICODE) */
#define MAILSLOT_WIDE_(x) u##x
#endif

typedef void *HANDLE, **PHANDLE, **LPHANDLE;
typedef void *PVOID, *LPVOID;
typedef const void *LPCVOID;
typedef HANDLE HLOCAL, HGLOBAL;
typedef DWORD *PDWORD, *LPDWORD;
typedef ULONG *PULONG;
typedef LONG *PLONG, *LPLONG;
typedef BOOL *PBOOL, *LPBOOL;
typedef BYTE *PBYTE, *LPBYTE;
typedef WORD *PWORD, *LPWORD;
typedef CHAR *LPSTR, *PSTR;
typedef const CHAR *LPCSTR, *PCSTR;
typedef WCHAR *LPWSTR, *PWSTR, *PWCHAR;
typedef const WCHAR *LPCWSTR, *PCWSTR;
typedef DWORD ACCESS_MASK;
typedef int32_t NTSTATUS;

typedef union _LARGE_INTEGER {
    struct {
        DWORD LowPart;
        LONG HighPart;
    };
    struct {
        DWORD LowPart;
        LONG HighPart;
    } u;
    LONGLONG QuadPart;
} LARGE_INTEGER, *PLARGE_INTEGER;

typedef union _ULARGE_INTEGER {
    struct {
        DWORD LowPart;
        DWORD HighPart;
    };
    struct {
        DWORD LowPart;
        DWORD HighPart;
    } u;
    ULONGLONG QuadPart;
} ULARGE_INTEGER, *PULARGE_INTEGER;

/* TCHAR: narrow unless UNICODE is defined. */
#ifdef UNICODE
typedef WCHAR TCHAR;
#define TEXT(quote) MAILSLOT_WIDE_(quote)
#else
typedef char TCHAR;
#define TEXT(quote) quote
#endif
#define _TEXT(quote) TEXT(quote)
#define _T(quote) TEXT(quote)
typedef TCHAR *LPTSTR, *PTSTR;
typedef const TCHAR *LPCTSTR, *PCTSTR;

/* ---- Structures --------------------------------------------------------------------------------- */
typedef PVOID PSECURITY_DESCRIPTOR;
typedef PVOID PSID;

typedef struct _ACL {
    BYTE AclRevision;
    BYTE Sbz1;
    WORD AclSize;
    WORD AceCount;
    WORD Sbz2;
} ACL, *PACL;

/* The absolute-format descriptor that InitializeSecurityDescriptor fills in. */
typedef struct _SECURITY_DESCRIPTOR {
    BYTE Revision;
    BYTE Sbz1;
    WORD Control;
    PSID Owner;
    PSID Group;
    PACL Sacl;
    PACL Dacl;
} SECURITY_DESCRIPTOR, *PISECURITY_DESCRIPTOR;

typedef struct _SECURITY_ATTRIBUTES {
    DWORD nLength;
    LPVOID lpSecurityDescriptor; /* NULL: the default rule, this user and root may write */
    BOOL bInheritHandle;         /* TRUE: children started with exec inherit the handle */
} SECURITY_ATTRIBUTES, *PSECURITY_ATTRIBUTES, *LPSECURITY_ATTRIBUTES;

typedef struct _OVERLAPPED {
    ULONG_PTR Internal;     /* the NTSTATUS: STATUS_PENDING while the operation runs */
    ULONG_PTR InternalHigh; /* bytes transferred */
    union {
        struct {
            DWORD Offset;
            DWORD OffsetHigh;
        };
        PVOID Pointer;
    };
    HANDLE hEvent;
} OVERLAPPED, *LPOVERLAPPED;

/* ---- Constants ---------------------------------------------------------------------------------- */
#define TRUE 1
#define FALSE 0
#define INVALID_HANDLE_VALUE ((HANDLE)(intptr_t)-1)
#define MAX_PATH 260
#define INFINITE 0xFFFFFFFFu
#define MAILSLOT_WAIT_FOREVER ((DWORD)-1)
#define MAILSLOT_NO_MESSAGE ((DWORD)-1)
#define MAXIMUM_WAIT_OBJECTS 64

#define WAIT_OBJECT_0 0x00000000u
#define WAIT_ABANDONED 0x00000080u
#define WAIT_ABANDONED_0 WAIT_ABANDONED
#define WAIT_TIMEOUT 0x00000102u
#define WAIT_FAILED 0xFFFFFFFFu

#define DELETE 0x00010000u
#define READ_CONTROL 0x00020000u
#define SYNCHRONIZE 0x00100000u
#define STANDARD_RIGHTS_REQUIRED 0x000F0000u
#define GENERIC_READ 0x80000000u
#define GENERIC_WRITE 0x40000000u
#define GENERIC_EXECUTE 0x20000000u
#define GENERIC_ALL 0x10000000u
#define FILE_READ_DATA 0x0001u
#define FILE_WRITE_DATA 0x0002u
#define FILE_APPEND_DATA 0x0004u
#define FILE_READ_ATTRIBUTES 0x0080u
#define FILE_WRITE_ATTRIBUTES 0x0100u
#define FILE_ALL_ACCESS (STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0x1FFu)
#define FILE_GENERIC_READ (READ_CONTROL | FILE_READ_DATA | FILE_READ_ATTRIBUTES | 0x0008u | SYNCHRONIZE)
#define FILE_GENERIC_WRITE (READ_CONTROL | FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES | 0x0010u | FILE_APPEND_DATA | SYNCHRONIZE)
#define EVENT_MODIFY_STATE 0x0002u
#define EVENT_ALL_ACCESS (STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0x3u)

#define FILE_SHARE_READ 0x00000001u
#define FILE_SHARE_WRITE 0x00000002u
#define FILE_SHARE_DELETE 0x00000004u
#define CREATE_NEW 1u
#define CREATE_ALWAYS 2u
#define OPEN_EXISTING 3u
#define OPEN_ALWAYS 4u
#define TRUNCATE_EXISTING 5u
#define FILE_ATTRIBUTE_NORMAL 0x00000080u
#define FILE_FLAG_WRITE_THROUGH 0x80000000u
#define FILE_FLAG_OVERLAPPED 0x40000000u

#define DUPLICATE_CLOSE_SOURCE 0x00000001u
#define DUPLICATE_SAME_ACCESS 0x00000002u
#define HANDLE_FLAG_INHERIT 0x00000001u
#define HANDLE_FLAG_PROTECT_FROM_CLOSE 0x00000002u

#define SDDL_REVISION_1 1u
#define SDDL_REVISION SDDL_REVISION_1
#define SECURITY_DESCRIPTOR_REVISION 1u
#define SECURITY_DESCRIPTOR_MIN_LENGTH ((DWORD)sizeof(SECURITY_DESCRIPTOR))

#define LMEM_FIXED 0x0000u
#define LMEM_ZEROINIT 0x0040u
#define LPTR (LMEM_FIXED | LMEM_ZEROINIT)
#define GMEM_FIXED 0x0000u
#define GMEM_ZEROINIT 0x0040u
#define GPTR (GMEM_FIXED | GMEM_ZEROINIT)

/* Win32 error codes (GetLastError). */
#define NO_ERROR 0u
#define ERROR_SUCCESS 0u
#define ERROR_INVALID_FUNCTION 1u
#define ERROR_FILE_NOT_FOUND 2u
#define ERROR_PATH_NOT_FOUND 3u
#define ERROR_TOO_MANY_OPEN_FILES 4u
#define ERROR_ACCESS_DENIED 5u
#define ERROR_INVALID_HANDLE 6u
#define ERROR_NOT_ENOUGH_MEMORY 8u
#define ERROR_OUTOFMEMORY 14u
#define ERROR_GEN_FAILURE 31u
#define ERROR_SHARING_VIOLATION 32u
#define ERROR_NOT_SUPPORTED 50u
#define ERROR_BAD_NETPATH 53u
#define ERROR_INVALID_PARAMETER 87u
#define ERROR_BROKEN_PIPE 109u
#define ERROR_SEM_TIMEOUT 121u
#define ERROR_INSUFFICIENT_BUFFER 122u
#define ERROR_INVALID_NAME 123u
#define ERROR_BAD_PATHNAME 161u
#define ERROR_ALREADY_EXISTS 183u
#define ERROR_FILENAME_EXCED_RANGE 206u
#define ERROR_MORE_DATA 234u
#define ERROR_OPERATION_ABORTED 995u
#define ERROR_IO_INCOMPLETE 996u
#define ERROR_IO_PENDING 997u
#define ERROR_NOACCESS 998u
#define ERROR_NOT_FOUND 1168u
#define ERROR_UNKNOWN_REVISION 1305u
#define ERROR_NONE_MAPPED 1332u
#define ERROR_INVALID_ACL 1336u
#define ERROR_INVALID_SID 1337u
#define ERROR_INVALID_SECURITY_DESCR 1338u
#define ERROR_NO_SYSTEM_RESOURCES 1450u
#define ERROR_TIMEOUT 1460u
#define ERROR_NOT_ENOUGH_QUOTA 1816u
#define ERROR_REMOTE_MAILSLOTS_DEPRECATED 3025u
#define ERROR_MESSAGE_EXCEEDS_MAX_SIZE 4336u

/* ---- Kernel32 functions ------------------------------------------------------------------------- */

/* Creates \\.\mailslot\[path]name (a server handle, which reads; it is a synchronous handle, so a
 * ReadFile with an OVERLAPPED completes or times out before it returns and then signals the event).
 * lpSecurityAttributes may be NULL; its descriptor says who may write (see below). */
HANDLE CreateMailslotA(LPCSTR lpName, DWORD nMaxMessageSize, DWORD lReadTimeout, LPSECURITY_ATTRIBUTES lpSecurityAttributes);
HANDLE CreateMailslotW(LPCWSTR lpName, DWORD nMaxMessageSize, DWORD lReadTimeout, LPSECURITY_ATTRIBUTES lpSecurityAttributes);
/* Every output is optional. Works on a client handle too (Windows 8 and later). */
BOOL GetMailslotInfo(HANDLE hMailslot, LPDWORD lpMaxMessageSize, LPDWORD lpNextSize, LPDWORD lpMessageCount, LPDWORD lpReadTimeout);
BOOL SetMailslotInfo(HANDLE hMailslot, DWORD lReadTimeout);
/* Opens a mailslot for writing: \\.\mailslot\x, \\COMPUTER\mailslot\x, \\DOMAIN\mailslot\x, \\*\mailslot\x.
 * Any other path fails with ERROR_NOT_SUPPORTED: this is not a general CreateFile. Share modes behave
 * as on Vista and later (every client open succeeds). */
HANDLE CreateFileA(LPCSTR lpFileName, DWORD dwDesiredAccess, DWORD dwShareMode, LPSECURITY_ATTRIBUTES lpSecurityAttributes,
                   DWORD dwCreationDisposition, DWORD dwFlagsAndAttributes, HANDLE hTemplateFile);
HANDLE CreateFileW(LPCWSTR lpFileName, DWORD dwDesiredAccess, DWORD dwShareMode, LPSECURITY_ATTRIBUTES lpSecurityAttributes,
                   DWORD dwCreationDisposition, DWORD dwFlagsAndAttributes, HANDLE hTemplateFile);
BOOL ReadFile(HANDLE hFile, LPVOID lpBuffer, DWORD nNumberOfBytesToRead, LPDWORD lpNumberOfBytesRead, LPOVERLAPPED lpOverlapped);
BOOL WriteFile(HANDLE hFile, LPCVOID lpBuffer, DWORD nNumberOfBytesToWrite, LPDWORD lpNumberOfBytesWritten, LPOVERLAPPED lpOverlapped);
BOOL GetOverlappedResult(HANDLE hFile, LPOVERLAPPED lpOverlapped, LPDWORD lpNumberOfBytesTransferred, BOOL bWait);
/* Cancels the pending reads this thread started on hFile (CancelIoEx: any thread's; lpOverlapped NULL: all). */
BOOL CancelIo(HANDLE hFile);
BOOL CancelIoEx(HANDLE hFile, LPOVERLAPPED lpOverlapped);
/* Closing the last handle of a mailslot deletes it; a thread blocked on it wakes with ERROR_OPERATION_ABORTED. */
BOOL CloseHandle(HANDLE hObject);
/* Within this process only: both process handles must be GetCurrentProcess(). */
BOOL DuplicateHandle(HANDLE hSourceProcessHandle, HANDLE hSourceHandle, HANDLE hTargetProcessHandle, LPHANDLE lpTargetHandle,
                     DWORD dwDesiredAccess, BOOL bInheritHandle, DWORD dwOptions);
BOOL GetHandleInformation(HANDLE hObject, LPDWORD lpdwFlags);
BOOL SetHandleInformation(HANDLE hObject, DWORD dwMask, DWORD dwFlags);
HANDLE GetCurrentProcess(void);
DWORD GetCurrentProcessId(void);
DWORD GetCurrentThreadId(void);

/* Events. A name makes the event findable by later CreateEvent calls of this process (ERROR_ALREADY_EXISTS). */
HANDLE CreateEventA(LPSECURITY_ATTRIBUTES lpEventAttributes, BOOL bManualReset, BOOL bInitialState, LPCSTR lpName);
HANDLE CreateEventW(LPSECURITY_ATTRIBUTES lpEventAttributes, BOOL bManualReset, BOOL bInitialState, LPCWSTR lpName);
BOOL SetEvent(HANDLE hEvent);
BOOL ResetEvent(HANDLE hEvent);
/* Waits on events and mailslot handles (a mailslot handle is signalled when an operation on it completes). */
DWORD WaitForSingleObject(HANDLE hHandle, DWORD dwMilliseconds);
DWORD WaitForMultipleObjects(DWORD nCount, const HANDLE *lpHandles, BOOL bWaitAll, DWORD dwMilliseconds);

DWORD GetLastError(void);
void SetLastError(DWORD dwErrCode);
DWORD GetTickCount(void);
ULONGLONG GetTickCount64(void);
void Sleep(DWORD dwMilliseconds);

/* Security descriptors map onto the mailslot's access rule (who may write):
 *   - no descriptor, or a DACL that names only the owner, SYSTEM or Administrators: this user and root;
 *   - an allow ACE for Everyone (WD, S-1-1-0), Authenticated Users (AU, S-1-5-11) or Users (BU,
 *     S-1-5-32-545), or a NULL DACL: every local user;
 *   - an allow ACE for a Unix group by SID string S-1-22-2-GID (Samba's mapping of Linux groups): that
 *     group's members, this user and root;
 *   - an allow ACE for NETWORK (NU, S-1-5-2): messages from other machines may arrive through mailslotd
 *     (off otherwise; Everyone does not include the network).
 * Anything the rule cannot express (a deny ACE, two different groups, another user, an empty DACL, an
 * unknown SID) fails with ERROR_INVALID_PARAMETER rather than being ignored. Mandatory labels in the
 * SACL (S:(ML;;NW;;;LW)) are accepted and have no effect: Linux has no integrity levels. */
BOOL ConvertStringSecurityDescriptorToSecurityDescriptorA(LPCSTR StringSecurityDescriptor, DWORD StringSDRevision,
                                                          PSECURITY_DESCRIPTOR *SecurityDescriptor, PULONG SecurityDescriptorSize);
BOOL ConvertStringSecurityDescriptorToSecurityDescriptorW(LPCWSTR StringSecurityDescriptor, DWORD StringSDRevision,
                                                          PSECURITY_DESCRIPTOR *SecurityDescriptor, PULONG SecurityDescriptorSize);
BOOL InitializeSecurityDescriptor(PSECURITY_DESCRIPTOR pSecurityDescriptor, DWORD dwRevision);
/* bDaclPresent TRUE with pDacl NULL (a NULL DACL) lets every user write. Other ACLs: ERROR_INVALID_PARAMETER. */
BOOL SetSecurityDescriptorDacl(PSECURITY_DESCRIPTOR pSecurityDescriptor, BOOL bDaclPresent, PACL pDacl, BOOL bDaclDefaulted);

HLOCAL LocalAlloc(UINT uFlags, SIZE_T uBytes);
HLOCAL LocalFree(HLOCAL hMem);
HGLOBAL GlobalAlloc(UINT uFlags, SIZE_T dwBytes);
HGLOBAL GlobalFree(HGLOBAL hMem);

int lstrlenA(LPCSTR lpString);
int lstrlenW(LPCWSTR lpString);
int lstrcmpA(LPCSTR lpString1, LPCSTR lpString2);
int lstrcmpW(LPCWSTR lpString1, LPCWSTR lpString2);
int lstrcmpiA(LPCSTR lpString1, LPCSTR lpString2);
int lstrcmpiW(LPCWSTR lpString1, LPCWSTR lpString2);
LPSTR lstrcpyA(LPSTR lpString1, LPCSTR lpString2);
LPWSTR lstrcpyW(LPWSTR lpString1, LPCWSTR lpString2);
LPSTR lstrcatA(LPSTR lpString1, LPCSTR lpString2);
LPWSTR lstrcatW(LPWSTR lpString1, LPCWSTR lpString2);

#define ZeroMemory(Destination, Length) memset((Destination), 0, (Length))
#define SecureZeroMemory(Destination, Length) memset((Destination), 0, (Length))
#define FillMemory(Destination, Length, Fill) memset((Destination), (Fill), (Length))
#define CopyMemory(Destination, Source, Length) memcpy((Destination), (Source), (Length))
#define MoveMemory(Destination, Source, Length) memmove((Destination), (Source), (Length))
#define HasOverlappedIoCompleted(lpOverlapped) (((DWORD)(lpOverlapped)->Internal) != (DWORD)STATUS_PENDING)

#ifdef UNICODE
#define CreateMailslot CreateMailslotW
#define CreateFile CreateFileW
#define CreateEvent CreateEventW
#define ConvertStringSecurityDescriptorToSecurityDescriptor ConvertStringSecurityDescriptorToSecurityDescriptorW
#define lstrlen lstrlenW
#define lstrcmp lstrcmpW
#define lstrcmpi lstrcmpiW
#define lstrcpy lstrcpyW
#define lstrcat lstrcatW
#else
#define CreateMailslot CreateMailslotA
#define CreateFile CreateFileA
#define CreateEvent CreateEventA
#define ConvertStringSecurityDescriptorToSecurityDescriptor ConvertStringSecurityDescriptorToSecurityDescriptorA
#define lstrlen lstrlenA
#define lstrcmp lstrcmpA
#define lstrcmpi lstrcmpiA
#define lstrcpy lstrcpyA
#define lstrcat lstrcatA
#endif

/* ---- The NT layer (winternl.h, ntstatus.h) ------------------------------------------------------ */
#define NT_SUCCESS(Status) (((NTSTATUS)(Status)) >= 0)
#define NT_ERROR(Status) ((((ULONG)(Status)) >> 30) == 3)

#define STATUS_SUCCESS ((NTSTATUS)0x00000000)
#define STATUS_TIMEOUT ((NTSTATUS)0x00000102)
#define STATUS_PENDING ((NTSTATUS)0x00000103)
#define STATUS_BUFFER_OVERFLOW ((NTSTATUS)0x80000005)
#define STATUS_UNSUCCESSFUL ((NTSTATUS)0xC0000001)
#define STATUS_NOT_IMPLEMENTED ((NTSTATUS)0xC0000002)
#define STATUS_INVALID_INFO_CLASS ((NTSTATUS)0xC0000003)
#define STATUS_INFO_LENGTH_MISMATCH ((NTSTATUS)0xC0000004)
#define STATUS_ACCESS_VIOLATION ((NTSTATUS)0xC0000005)
#define STATUS_INVALID_HANDLE ((NTSTATUS)0xC0000008)
#define STATUS_INVALID_PARAMETER ((NTSTATUS)0xC000000D)
#define STATUS_INVALID_DEVICE_REQUEST ((NTSTATUS)0xC0000010)
#define STATUS_NO_MEMORY ((NTSTATUS)0xC0000017)
#define STATUS_ACCESS_DENIED ((NTSTATUS)0xC0000022)
#define STATUS_BUFFER_TOO_SMALL ((NTSTATUS)0xC0000023)
#define STATUS_OBJECT_TYPE_MISMATCH ((NTSTATUS)0xC0000024)
#define STATUS_OBJECT_NAME_INVALID ((NTSTATUS)0xC0000033)
#define STATUS_OBJECT_NAME_NOT_FOUND ((NTSTATUS)0xC0000034)
#define STATUS_OBJECT_NAME_COLLISION ((NTSTATUS)0xC0000035)
#define STATUS_OBJECT_PATH_INVALID ((NTSTATUS)0xC0000039)
#define STATUS_OBJECT_PATH_NOT_FOUND ((NTSTATUS)0xC000003A)
#define STATUS_OBJECT_PATH_SYNTAX_BAD ((NTSTATUS)0xC000003B)
#define STATUS_SHARING_VIOLATION ((NTSTATUS)0xC0000043)
#define STATUS_QUOTA_EXCEEDED ((NTSTATUS)0xC0000044)
#define STATUS_INSUFFICIENT_RESOURCES ((NTSTATUS)0xC000009A)
#define STATUS_IO_TIMEOUT ((NTSTATUS)0xC00000B5)
#define STATUS_NOT_SUPPORTED ((NTSTATUS)0xC00000BB)
#define STATUS_BAD_NETWORK_PATH ((NTSTATUS)0xC00000BE)
#define STATUS_NAME_TOO_LONG ((NTSTATUS)0xC0000106)
#define STATUS_CANCELLED ((NTSTATUS)0xC0000120)
#define STATUS_PIPE_BROKEN ((NTSTATUS)0xC000014B)

#define OBJ_INHERIT 0x00000002u
#define OBJ_CASE_INSENSITIVE 0x00000040u
#define FILE_SYNCHRONOUS_IO_ALERT 0x00000010u
#define FILE_SYNCHRONOUS_IO_NONALERT 0x00000020u

typedef struct _UNICODE_STRING {
    USHORT Length;        /* bytes, without a terminator */
    USHORT MaximumLength; /* bytes */
    PWSTR Buffer;
} UNICODE_STRING, *PUNICODE_STRING;
typedef const UNICODE_STRING *PCUNICODE_STRING;

typedef struct _OBJECT_ATTRIBUTES {
    ULONG Length; /* sizeof(OBJECT_ATTRIBUTES) */
    HANDLE RootDirectory;
    PUNICODE_STRING ObjectName;
    ULONG Attributes;
    PVOID SecurityDescriptor;
    PVOID SecurityQualityOfService;
} OBJECT_ATTRIBUTES, *POBJECT_ATTRIBUTES;

#define InitializeObjectAttributes(p, n, a, r, s)                                                            \
    do {                                                                                                     \
        (p)->Length = sizeof(OBJECT_ATTRIBUTES);                                                             \
        (p)->RootDirectory = (r);                                                                            \
        (p)->Attributes = (a);                                                                               \
        (p)->ObjectName = (n);                                                                               \
        (p)->SecurityDescriptor = (s);                                                                       \
        (p)->SecurityQualityOfService = NULL;                                                                \
    } while (0)

typedef struct _IO_STATUS_BLOCK {
    union {
        NTSTATUS Status;
        PVOID Pointer;
    };
    ULONG_PTR Information;
} IO_STATUS_BLOCK, *PIO_STATUS_BLOCK;

typedef void (*PIO_APC_ROUTINE)(PVOID ApcContext, PIO_STATUS_BLOCK IoStatusBlock, ULONG Reserved);

typedef enum _FILE_INFORMATION_CLASS {
    FileMailslotQueryInformation = 26,
    FileMailslotSetInformation = 27,
} FILE_INFORMATION_CLASS, *PFILE_INFORMATION_CLASS;

typedef struct _FILE_MAILSLOT_QUERY_INFORMATION {
    ULONG MaximumMessageSize;
    ULONG MailslotQuota;
    ULONG NextMessageSize;   /* MAILSLOT_NO_MESSAGE when empty */
    ULONG MessagesAvailable;
    LARGE_INTEGER ReadTimeout; /* relative 100 ns units (ms * -10000); 0x7FFFFFFFFFFFFFFF: forever */
} FILE_MAILSLOT_QUERY_INFORMATION, *PFILE_MAILSLOT_QUERY_INFORMATION;

typedef struct _FILE_MAILSLOT_SET_INFORMATION {
    PLARGE_INTEGER ReadTimeout;
} FILE_MAILSLOT_SET_INFORMATION, *PFILE_MAILSLOT_SET_INFORMATION;

/* Creates a mailslot from an NT name, \??\MAILSLOT\[path]name or \Device\Mailslot\[path]name.
 * CreateOptions FILE_SYNCHRONOUS_IO_NONALERT (or _ALERT) gives a synchronous handle; 0 an asynchronous
 * one, whose reads of an empty mailslot return STATUS_PENDING and complete when a writer writes.
 * ReadTimeout NULL means wait forever. */
NTSTATUS NtCreateMailslotFile(PHANDLE FileHandle, ULONG DesiredAccess, POBJECT_ATTRIBUTES ObjectAttributes,
                              PIO_STATUS_BLOCK IoStatusBlock, ULONG CreateOptions, ULONG MailslotQuota,
                              ULONG MaximumMessageSize, PLARGE_INTEGER ReadTimeout);
/* ApcRoutine must be NULL (STATUS_NOT_SUPPORTED otherwise): use Event, or wait on the handle. */
NTSTATUS NtReadFile(HANDLE FileHandle, HANDLE Event, PIO_APC_ROUTINE ApcRoutine, PVOID ApcContext, PIO_STATUS_BLOCK IoStatusBlock,
                    PVOID Buffer, ULONG Length, PLARGE_INTEGER ByteOffset, PULONG Key);
NTSTATUS NtWriteFile(HANDLE FileHandle, HANDLE Event, PIO_APC_ROUTINE ApcRoutine, PVOID ApcContext, PIO_STATUS_BLOCK IoStatusBlock,
                     const void *Buffer, ULONG Length, PLARGE_INTEGER ByteOffset, PULONG Key);
NTSTATUS NtQueryInformationFile(HANDLE FileHandle, PIO_STATUS_BLOCK IoStatusBlock, PVOID FileInformation, ULONG Length,
                                FILE_INFORMATION_CLASS FileInformationClass);
NTSTATUS NtSetInformationFile(HANDLE FileHandle, PIO_STATUS_BLOCK IoStatusBlock, PVOID FileInformation, ULONG Length,
                              FILE_INFORMATION_CLASS FileInformationClass);
NTSTATUS NtClose(HANDLE Handle);
void RtlInitUnicodeString(PUNICODE_STRING DestinationString, PCWSTR SourceString);
ULONG RtlNtStatusToDosError(NTSTATUS Status);

#ifdef __cplusplus
}
#endif
#endif
