// cxx_compile PREFIX: the header from C++17 (g++ -std=c++17 -Wall -Wextra -Werror), with mailslot handles
// owned by a small RAII class. PREFIX is a mailslot name such as \\.\mailslot\sample-test\123; the program
// makes PREFIX\narrow (TCHAR, narrow build) and PREFIX\wide (CreateMailslotW, u"" strings) under it.
// Prints one line per check that fails, then "N passed, M failed"; exit 0 if none failed, 1 otherwise, 2 on bad usage.
#include "mailslot_win32.h" // stands where #include <windows.h> would
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

namespace {

int passed = 0, failed = 0;

void check(bool ok, const char *what) {
    if (ok) {
        passed++;
    } else {
        failed++;
        std::printf("FAILED: %s (GetLastError %lu)\n", what, static_cast<unsigned long>(GetLastError()));
    }
}

// Owns one HANDLE; CloseHandle in the destructor. Movable, not copyable.
class Handle {
public:
    Handle() noexcept = default;
    explicit Handle(HANDLE h) noexcept : h_(h) {}
    Handle(const Handle &) = delete;
    Handle &operator=(const Handle &) = delete;
    Handle(Handle &&other) noexcept : h_(std::exchange(other.h_, INVALID_HANDLE_VALUE)) {}
    Handle &operator=(Handle &&other) noexcept {
        if (this != &other) {
            reset();
            h_ = std::exchange(other.h_, INVALID_HANDLE_VALUE);
        }
        return *this;
    }
    ~Handle() { reset(); }

    HANDLE get() const noexcept { return h_; }
    bool valid() const noexcept { return h_ != INVALID_HANDLE_VALUE && h_ != nullptr; }
    explicit operator bool() const noexcept { return valid(); }
    bool close() noexcept {  // closes now; true if CloseHandle succeeded
        if (!valid()) return false;
        BOOL ok = CloseHandle(h_);
        h_ = INVALID_HANDLE_VALUE;
        return ok != FALSE;
    }

private:
    void reset() noexcept { if (valid()) CloseHandle(h_); h_ = INVALID_HANDLE_VALUE; }
    HANDLE h_ = INVALID_HANDLE_VALUE;
};

using tstring = std::basic_string<TCHAR>;

Handle openClient(const TCHAR *name) {
    return Handle(CreateFile(name, GENERIC_WRITE, FILE_SHARE_READ, nullptr, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr));
}

}  // namespace

int main(int argc, char *argv[]) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s NAME-PREFIX\n", argv[0]);
        return 2;
    }
    const tstring narrowName = tstring(argv[1]) + TEXT("\\narrow");

    {
        // Narrow TCHAR round trip: create, info, open, write, info, read, set/get time-out.
        Handle server(CreateMailslot(narrowName.c_str(), 0, 0, nullptr));
        check(server.valid(), "CreateMailslot (TCHAR)");

        DWORD maxSize = 1, next = 0, count = 9, timeout = 9;
        check(GetMailslotInfo(server.get(), &maxSize, &next, &count, &timeout) != FALSE, "GetMailslotInfo");
        check(maxSize == 0 && next == MAILSLOT_NO_MESSAGE && count == 0 && timeout == 0, "GetMailslotInfo values on a new mailslot");

        Handle client = openClient(narrowName.c_str());
        check(client.valid(), "CreateFile (TCHAR)");

        const TCHAR message[] = TEXT("hello from C++");
        const DWORD cbMessage = static_cast<DWORD>(lstrlen(message) * sizeof(TCHAR));
        DWORD cbWritten = 0;
        check(WriteFile(client.get(), message, cbMessage, &cbWritten, nullptr) != FALSE && cbWritten == cbMessage, "WriteFile");

        check(GetMailslotInfo(server.get(), nullptr, &next, &count, nullptr) != FALSE && next == cbMessage && count == 1,
              "GetMailslotInfo: one message of the written size");

        TCHAR buffer[64] = {};
        DWORD cbRead = 0;
        check(ReadFile(server.get(), buffer, sizeof(buffer), &cbRead, nullptr) != FALSE && cbRead == cbMessage &&
                  std::memcmp(buffer, message, cbMessage) == 0,
              "ReadFile returns the message");

        check(SetMailslotInfo(server.get(), 50) != FALSE, "SetMailslotInfo 50");
        check(GetMailslotInfo(server.get(), nullptr, nullptr, nullptr, &timeout) != FALSE && timeout == 50, "read time-out is 50");

        Handle moved = std::move(client);  // ownership moves; the old wrapper no longer closes it
        check(!client.valid() && moved.valid(), "move leaves one owner");
        check(moved.close(), "CloseHandle client");
    }   // server's destructor closes the mailslot here

    {
        // The destructor closed the mailslot, so the name is free again.
        Handle again(CreateMailslot(narrowName.c_str(), 0, 0, nullptr));
        check(again.valid(), "name is free after the destructor's CloseHandle");
    }

    {
        // CreateMailslotW with a u"" name; the same name through the A function is then taken.
        std::u16string wideName;
        for (const char *p = argv[1]; *p; ++p) wideName += static_cast<char16_t>(static_cast<unsigned char>(*p));
        wideName += u"\\wide";
        const std::string wideAsNarrow = std::string(argv[1]) + "\\WIDE";

        Handle server(CreateMailslotW(wideName.c_str(), 0, 0, nullptr));
        check(server.valid(), "CreateMailslotW");
        check(CreateMailslotA(wideAsNarrow.c_str(), 0, 0, nullptr) == INVALID_HANDLE_VALUE && GetLastError() == ERROR_ALREADY_EXISTS,
              "CreateMailslotA on the W name (other case) -> ERROR_ALREADY_EXISTS");

        Handle client(CreateFileW(wideName.c_str(), GENERIC_WRITE, FILE_SHARE_READ, nullptr, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr));
        check(client.valid(), "CreateFileW");
        const char16_t message[] = u"wide message";
        DWORD cbWritten = 0;
        check(WriteFile(client.get(), message, sizeof(message), &cbWritten, nullptr) != FALSE && cbWritten == sizeof(message),
              "WriteFile (with NUL)");

        char16_t buffer[32] = {};
        DWORD next = 0, count = 0, cbRead = 0;
        check(GetMailslotInfo(server.get(), nullptr, &next, &count, nullptr) != FALSE && next == sizeof(message) && count == 1,
              "GetMailslotInfo on the W mailslot");
        check(ReadFile(server.get(), buffer, sizeof(buffer), &cbRead, nullptr) != FALSE && cbRead == sizeof(message) &&
                  std::u16string(buffer) == message,
              "ReadFile returns the wide message");
    }

    std::printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
