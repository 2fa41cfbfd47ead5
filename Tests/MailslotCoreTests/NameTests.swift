import Testing
@testable import MailslotCore

@Suite("Mailslot names")
struct NameTests {
    /// Invalid UTF-8 becomes U+FFFD on its way into a String, so \\.\mailslot\<0xff> and <0xfe> would be one
    /// mailslot: the replacement character is refused (123).
    @Test func namesThatWereNotValidUTF8AreRefused() {
        for bytes in [[0xFF], [0xFE], [0x61, 0xC3]] as [[UInt8]] {
            let text = #"\\.\mailslot\"# + String(decoding: bytes, as: UTF8.self)
            #expect(throws: MailslotError.self) { try MailslotName(parsing: text) }
            do { _ = try MailslotName(parsing: text) } catch { #expect(error.code == .invalidName && error.message.contains("UTF-8")) }
        }
        #expect((try? MailslotName(parsing: "\\\\.\\mailslot\\caf\u{e9}")) != nil)
    }

    @Test func localNameWithPathLevels() throws {
        let name = try MailslotName(parsing: #"\\.\mailslot\abc\def\ghi"#)
        #expect(name.scope == .local)
        #expect(name.components == ["abc", "def", "ghi"])
        #expect(name.path == #"abc\def\ghi"#)
        #expect(name.wireName == #"\MAILSLOT\abc\def\ghi"#)
        #expect(name.description == #"\\.\mailslot\abc\def\ghi"#)
    }

    @Test func prefixAndNamesAreCaseInsensitive() throws {
        let a = try MailslotName(parsing: #"\\.\MAILSLOT\App\Events"#)
        let b = try MailslotName(parsing: #"\\.\mailslot\app\events"#)
        #expect(a == b)
        #expect(a.key == b.key)
        #expect(a.hashValue == b.hashValue)
        #expect(a.path == #"App\Events"#) // case kept for display
    }

    @Test func forwardSlashesAndQuestionMarkPrefix() throws {
        #expect(try MailslotName(parsing: "//./mailslot/a/b") == MailslotName(parsing: #"\\.\mailslot\a\b"#))
        #expect(try MailslotName(parsing: #"\\?\mailslot\x"#).scope == .local)
    }

    @Test func clientFormsAreClassified() throws {
        let computer = try MailslotName(parsing: #"\\HOSTB\mailslot\t"#)
        #expect(computer.scope == .host("HOSTB"))
        #expect(computer.destination(workgroup: "WORKGROUP") == .computer("HOSTB"))
        let domain = try MailslotName(parsing: #"\\workgroup\mailslot\t"#)
        #expect(domain.destination(workgroup: "WORKGROUP") == .domain("WORKGROUP"))
        let star = try MailslotName(parsing: #"\\*\mailslot\net\netlogon"#)
        #expect(star.scope == .primaryDomain)
        #expect(star.destination(workgroup: "mstest") == .domain("MSTEST"))
        #expect(try MailslotName(parsing: #"\\.\mailslot\x"#).destination(workgroup: "W") == .local)
        #expect(!computer.isLocal)
    }

    @Test(arguments: [
        "blah", #"\\.\pipe\x"#, #"\\.\mailslot"#, #"\\.\mailslot\"#, #"\\.\mailslot\a\\b"#, #"\\.\mailslot\a\"#,
        #"\\\mailslot\x"#, #"\.\mailslot\x"#, #"\\.\mailslot\a\..\b"#, #"\\.\mailslot\.\b"#, "\\\\.\\mailslot\\a\u{01}b",
        #"\\a*b\mailslot\x"#, #"\\.\mailslots\x"#,
    ])
    func notMailslotNames(_ text: String) {
        #expect(throws: MailslotError.self) { try MailslotName(parsing: text) }
        do {
            _ = try MailslotName(parsing: text)
        } catch {
            #expect(error.code == .invalidName, "\(text): \(error)")
        }
    }

    @Test func emptyNameIsPathNotFound() {
        do {
            _ = try MailslotName(parsing: "")
            Issue.record("empty name accepted")
        } catch {
            #expect(error.code == .pathNotFound)
        }
    }

    @Test func longestNameAcceptedAndOneMoreRejected() throws {
        let longest = String(repeating: "n", count: MailslotLimits.longestName)
        let name = try MailslotName(local: longest)
        #expect(name.description.utf16.count == 259) // under MAX_PATH, as on Windows
        do {
            _ = try MailslotName(local: longest + "n")
            Issue.record("over-long name accepted")
        } catch {
            #expect(error.code == .filenameExceedsRange)
            #expect(error.message.contains("246"))
        }
        // Path separators count toward the length.
        let levels = String(repeating: "a\\", count: 123) + "b"
        #expect(levels.utf16.count == 247)
        #expect(throws: MailslotError.self) { try MailslotName(local: levels) }
    }

    @Test func foldingKeepsLengthAndHandlesUnicode() {
        #expect(MailslotName.fold("straße") == "STRAßE") // ß has no single-scalar upper case: kept
        #expect(MailslotName.fold("éclair") == "ÉCLAIR")
        #expect(MailslotName.fold("abc\\Def") == "ABC\\DEF")
    }
}

@Suite("Errors, timeouts, info, access")
struct ValueTests {
    @Test func errorDescriptionFormat() {
        let e = MailslotError(.fileNotFound, "no mailslot")
        #expect(e.description == "error 2 ERROR_FILE_NOT_FOUND: no mailslot")
        #expect(MailslotError.Code(rawValue: 9999).name == "ERROR_9999")
        let codes: [(MailslotError.Code, UInt32, String)] = [
            (.fileNotFound, 2, "ERROR_FILE_NOT_FOUND"), (.accessDenied, 5, "ERROR_ACCESS_DENIED"),
            (.badNetPath, 53, "ERROR_BAD_NETPATH"), (.semTimeout, 121, "ERROR_SEM_TIMEOUT"),
            (.insufficientBuffer, 122, "ERROR_INSUFFICIENT_BUFFER"), (.invalidName, 123, "ERROR_INVALID_NAME"),
            (.alreadyExists, 183, "ERROR_ALREADY_EXISTS"), (.brokenPipe, 109, "ERROR_BROKEN_PIPE"),
        ]
        for (code, raw, name) in codes {
            #expect(code.rawValue == raw)
            #expect(code.name == name)
        }
    }

    @Test func timeoutValues() {
        #expect(MailslotTimeout.forever.rawValue == 0xFFFF_FFFF)
        #expect(MailslotTimeout.forever.milliseconds == nil)
        #expect(MailslotTimeout.immediate.milliseconds == 0)
        #expect(MailslotTimeout.milliseconds(1000).description == "1000 ms")
        #expect(MailslotTimeout(rawValue: UInt32.max).isForever)
    }

    @Test func infoNoMessage() {
        let empty = MailslotInfo(maxMessageSize: 0, nextMessageSize: nil, messageCount: 0, readTimeout: .immediate, queuedBytes: 0, quota: 1)
        #expect(empty.win32NextMessageSize == MailslotInfo.noMessage)
        let zero = MailslotInfo(maxMessageSize: 0, nextMessageSize: 0, messageCount: 1, readTimeout: .immediate, queuedBytes: 8, quota: 1)
        #expect(zero.win32NextMessageSize == 0)
    }

    @Test func accessRule() {
        #expect(WriterAccess.owner.permits(uid: 1000, groups: [1000], ownerUID: 1000))
        #expect(WriterAccess.owner.permits(uid: 0, groups: [0], ownerUID: 1000))
        #expect(!WriterAccess.owner.permits(uid: 65534, groups: [65534], ownerUID: 1000))
        #expect(WriterAccess.group(50).permits(uid: 65534, groups: [65534, 50], ownerUID: 1000))
        #expect(!WriterAccess.group(50).permits(uid: 65534, groups: [65534], ownerUID: 1000))
        #expect(WriterAccess.everyone.permits(uid: 65534, groups: [], ownerUID: 1000))
    }
}

@Suite("Local protocol")
struct LocalProtocolTests {
    @Test func greetingRoundTrip() throws {
        for access in [WriterAccess.owner, .group(77), .everyone] {
            let g = LocalGreeting(status: .ok, maxMessageSize: 424, quota: 1 << 20, serverPID: 1234, ownerUID: 1000,
                                  access: access, path: #"App\Événements"#)
            #expect(LocalGreeting(decoding: g.encoded()) == g)
        }
        // The answer to a state query carries the queue's state (GetMailslotInfo on a client handle).
        for next in [UInt32?.none, 0, 3] {
            let q = LocalGreeting(status: .ok, maxMessageSize: 0, quota: 1 << 20, serverPID: 1, ownerUID: 0, access: .owner, path: "q",
                                  state: .init(messageCount: 2, nextMessageSize: next, readTimeout: .max, queuedBytes: 32),
                                  allowsNetwork: next == 3)
            #expect(LocalGreeting(decoding: q.encoded()) == q)
            let cut = q.encoded()
            for n in 0..<cut.count { #expect(LocalGreeting(decoding: Array(cut[0..<n])) == nil) }
        }
    }

    @Test("a greeting whose path is not UTF-8 does not decode (the libFuzzer finding, as a regression test)")
    func greetingWithAPathThatIsNotUTF8() throws {
        // The input libFuzzer reduced (scripts/fuzz-codec.sh --greeting): a version-4 greeting whose path
        // bytes include 0xFF, which used to decode into U+FFFD replacements, a path longer than its bytes.
        var bytes = LocalGreeting(status: .ok, maxMessageSize: 0, quota: 65536, serverPID: 1, ownerUID: 0, access: .owner, path: "ab").encoded()
        bytes[bytes.count - 1] = 0xFF
        #expect(LocalGreeting(decoding: bytes) == nil)
        bytes[bytes.count - 2] = 0xC2
        bytes[bytes.count - 1] = 0xAF // "¯": valid again
        #expect(LocalGreeting(decoding: bytes)?.path == "\u{AF}")
    }

    @Test func greetingRejectsGarbage() {
        let good = LocalGreeting(status: .accessDenied, maxMessageSize: 0, quota: 1, serverPID: 1, ownerUID: 0, access: .owner, path: "x").encoded()
        #expect(LocalGreeting(decoding: []) == nil)
        for cut in 0..<good.count { #expect(LocalGreeting(decoding: Array(good[0..<cut])) == nil) }
        #expect(LocalGreeting(decoding: good + [0]) == nil)
        var badStatus = good
        badStatus[6] = 9
        #expect(LocalGreeting(decoding: badStatus) == nil)
    }

    @Test func addressesAreCaseFoldedAndBounded() throws {
        let a = LocalProtocol.abstractAddress(forKey: try MailslotName(local: "Foo").key)
        #expect(a == Array("mailslot:FOO".utf8))
        let long = try MailslotName(local: String(repeating: "x", count: 200))
        let b = LocalProtocol.abstractAddress(forKey: long.key)
        #expect(b.count <= LocalProtocol.maxAddressBytes)
        #expect(b.starts(with: Array("mailslot#".utf8)))
        let other = try MailslotName(local: String(repeating: "x", count: 199) + "y")
        #expect(LocalProtocol.abstractAddress(forKey: other.key) != b)
    }
}
