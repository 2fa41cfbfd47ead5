import Foundation
import Mailslot
import Testing

/// The behaviours Windows' own tests establish (numbered W.. in the spec's conformance list).
@Suite("Windows conformance")
struct ConformanceTests {
    @Test("W1/W2: names that are not mailslot names")
    func invalidNames() {
        #expect(MailslotError.code { _ = try MailslotServer(name: "blah") } == .invalidName)
        #expect(MailslotError.code { _ = try MailslotServer(name: "") } == .pathNotFound)
        #expect(MailslotError.code { _ = try MailslotServer(name: #"\\HOSTB\mailslot\x"#) } == .invalidName)
        #expect(MailslotError.code { _ = try MailslotServer(name: #"\\*\mailslot\x"#) } == .invalidName)
    }

    @Test("W3: wacky max size and timeout are stored as given")
    func wackyValues() throws {
        let s = try MailslotServer(name: Support.uniqueName("w3"), maxMessageSize: 0xFFFF_FFFF, readTimeout: .forever)
        defer { s.close() }
        let info = try s.info()
        #expect(info.maxMessageSize == 0xFFFF_FFFF)
        #expect(info.win32NextMessageSize == MailslotInfo.noMessage)
        #expect(info.messageCount == 0)
        #expect(info.readTimeout.rawValue == 0xFFFF_FFFF)
    }

    @Test("W4/W5/W6/W7: create, duplicate (any case) fails with 183, close frees the name")
    func lifecycle() throws {
        let name = Support.uniqueName("Life")
        let s = try MailslotServer(name: name, maxMessageSize: 0, readTimeout: .immediate)
        let info = try s.info()
        #expect(info.maxMessageSize == 0 && info.nextMessageSize == nil && info.messageCount == 0 && info.readTimeout == .immediate)
        #expect(MailslotError.code { _ = try MailslotServer(name: name) } == .alreadyExists)
        #expect(MailslotError.code { _ = try MailslotServer(name: name.uppercased()) } == .alreadyExists)
        #expect(MailslotError.code { _ = try MailslotServer(name: name.lowercased()) } == .alreadyExists)
        s.close()
        let again = try MailslotServer(name: name)
        again.close()
        #expect(MailslotError.code { _ = try s.info() } == .invalidHandle)
        #expect(MailslotError.code { _ = try s.read() } == .invalidHandle)
    }

    @Test("W10: opening a name nobody serves fails with 2")
    func openMissing() {
        #expect(MailslotError.code { _ = try MailslotWriter(opening: Support.uniqueName("missing")) } == .fileNotFound)
    }

    @Test("W17/W18/W24: an empty mailslot with timeout 0 fails at once with 121")
    func immediateTimeout() throws {
        let s = try MailslotServer(name: Support.uniqueName("w17"), readTimeout: .immediate)
        defer { s.close() }
        let start = Date()
        #expect(MailslotError.code { _ = try s.read() } == .semTimeout)
        #expect(MailslotError.code { _ = try s.read(maxLength: 0) } == .semTimeout)
        #expect(Date().timeIntervalSince(start) < 5) // not a wait: bounded only to catch a hang
    }

    @Test("W22-W31: FIFO, head size, zero-length messages, writers in several handles")
    func sequence() throws {
        let name = Support.uniqueName("w22")
        let s = try MailslotServer(name: name, readTimeout: .immediate)
        defer { s.close() }
        let c1 = try MailslotWriter(opening: name)
        let c2 = try MailslotWriter(opening: name.uppercased())
        try c1.write([UInt8](repeating: 1, count: 8))
        #expect(try s.read(maxLength: 16).count == 8)
        #expect(MailslotError.code { _ = try s.read() } == .semTimeout)
        try c1.write("a")
        var info = try s.info()
        #expect(info.nextMessageSize == 1 && info.messageCount == 1)
        try c2.write("bc")
        info = try s.info()
        #expect(info.nextMessageSize == 1 && info.messageCount == 2)
        try c2.write([UInt8]())
        info = try s.info()
        #expect(info.nextMessageSize == 1 && info.messageCount == 3)
        #expect(try s.read() == Array("a".utf8))
        info = try s.info()
        #expect(info.nextMessageSize == 2 && info.messageCount == 2)
        #expect(try s.read() == Array("bc".utf8))
        info = try s.info()
        #expect(info.nextMessageSize == 0 && info.messageCount == 1)
        #expect(try s.read() == [])
        info = try s.info()
        #expect(info.nextMessageSize == nil && info.win32NextMessageSize == 0xFFFF_FFFF && info.messageCount == 0)
        #expect(MailslotError.code { _ = try s.read() } == .semTimeout)
    }

    @Test("W33: a too-small buffer fails with 122 and the message stays")
    func tooSmall() throws {
        let name = Support.uniqueName("w33")
        let s = try MailslotServer(name: name, readTimeout: .immediate)
        defer { s.close() }
        let c = try MailslotWriter(opening: name)
        try c.write([1, 2])
        var one = [UInt8](repeating: 0, count: 1)
        let code = MailslotError.code { _ = try one.withUnsafeMutableBytes { buffer throws(MailslotError) -> Int in try s.read(into: buffer) } }
        #expect(code == .insufficientBuffer)
        #expect(MailslotError.code { _ = try s.read(maxLength: 1) } == .insufficientBuffer)
        let info = try s.info()
        #expect(info.nextMessageSize == 2 && info.messageCount == 1)
        var two = [UInt8](repeating: 0, count: 2)
        let n = try two.withUnsafeMutableBytes { buffer throws(MailslotError) -> Int in try s.read(into: buffer) }
        #expect(n == 2 && two == [1, 2])
    }

    @Test("W34: a 1000 ms timeout waits at least 900 ms")
    func timedRead() throws {
        let s = try MailslotServer(name: Support.uniqueName("w34"), readTimeout: .milliseconds(1000))
        defer { s.close() }
        let start = Date()
        #expect(MailslotError.code { _ = try s.read() } == .semTimeout)
        let elapsed = Date().timeIntervalSince(start)
        #expect(elapsed >= 0.9, "waited only \(elapsed) s")
        #expect(elapsed < 30, "a 1 s timeout took \(elapsed) s")
    }

    @Test("R1/W46: a waiting read wakes when a message arrives")
    func blockedReadWakes() async throws {
        let name = Support.uniqueName("r1")
        let s = try MailslotServer(name: name, readTimeout: .forever)
        defer { s.close() }
        let reader = Task { try await s.read() }
        try await Task.sleep(for: .milliseconds(200))
        let c = try MailslotWriter(opening: name)
        try c.write([0xDE, 0xAD, 0xBE, 0xEF])
        #expect(try await reader.value == [0xDE, 0xAD, 0xBE, 0xEF])
    }

    @Test("W39/SetMailslotInfo: the read timeout can be changed later")
    func setTimeout() throws {
        let s = try MailslotServer(name: Support.uniqueName("smi"), readTimeout: .forever)
        defer { s.close() }
        try s.setReadTimeout(.milliseconds(50))
        #expect(try s.info().readTimeout == .milliseconds(50))
        #expect(MailslotError.code { _ = try s.read() } == .semTimeout)
        try s.setReadTimeout(.immediate)
        #expect(try s.info().readTimeout == .immediate)
    }

    @Test("W36: info on a slot with a zero-length message and with path levels")
    func pathLevels() throws {
        let name = Support.uniqueName("deep") + #"\abc\def\ghi"#
        let s = try MailslotServer(name: name, readTimeout: .immediate)
        defer { s.close() }
        let c = try MailslotWriter(opening: name.replacingOccurrences(of: "\\", with: "/"))
        try c.write([UInt8]())
        #expect(try s.info().nextMessageSize == 0)
        #expect(try s.read() == [])
    }
}
