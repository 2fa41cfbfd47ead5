// Security descriptors, mapped onto the mailslot's access rule (who may write). Windows code opens a
// mailslot wider with an SDDL string (ConvertStringSecurityDescriptorToSecurityDescriptor) or with a
// NULL DACL (InitializeSecurityDescriptor + SetSecurityDescriptorDacl); both are understood here, and
// what the rule cannot express is refused, never ignored.

#if canImport(Glibc)
import Glibc
#endif
import CMailslotWin32
import Mailslot

enum SecurityDescriptors {
    /// Marks the rule that follows a descriptor this library made ('MSAC').
    static let magic: UInt32 = 0x4D53_4143
    static let daclPresent: UInt16 = 0x0004
    static let selfRelative: UInt16 = 0x8000

    /// The rule stored behind the SECURITY_DESCRIPTOR header of descriptors made from SDDL.
    struct Rule {
        var magic: UInt32
        var kind: UInt32 // 0 owner, 1 group, 2 everyone
        var gid: UInt32
        var network: UInt32 // 1: the NETWORK SID (NU) may write: messages from other machines, through mailslotd
    }

    /// What a descriptor grants: the local rule, and whether the network may write.
    struct Grant: Equatable {
        var access: WriterAccess
        var network: Bool
    }

    /// A malloc'd self-relative descriptor holding `grant` (freed with LocalFree).
    static func make(_ grant: Grant) -> (UnsafeMutableRawPointer, Int)? {
        let access = grant.access
        let network: UInt32 = grant.network ? 1 : 0
        let size = MemoryLayout<SECURITY_DESCRIPTOR>.size + MemoryLayout<Rule>.size
        guard let raw = calloc(1, size) else { return nil }
        let rule = (raw + MemoryLayout<SECURITY_DESCRIPTOR>.size).bindMemory(to: Rule.self, capacity: 1)
        switch access {
        case .owner: rule.pointee = Rule(magic: magic, kind: 0, gid: 0, network: network)
        case .group(let gid): rule.pointee = Rule(magic: magic, kind: 1, gid: gid, network: network)
        case .everyone: rule.pointee = Rule(magic: magic, kind: 2, gid: 0, network: network)
        }
        let sd = raw.bindMemory(to: SECURITY_DESCRIPTOR.self, capacity: 1)
        sd.pointee.Revision = 1
        sd.pointee.Control = daclPresent | selfRelative
        sd.pointee.Dacl = UnsafeMutableRawPointer(rule).assumingMemoryBound(to: ACL.self)
        return (raw, size)
    }

    /// What a descriptor grants, or nil when it is not one this library can read. A NULL DACL grants every
    /// local user, not the network: messages from other machines need the NETWORK SID named (NU).
    static func grant(of descriptor: UnsafeMutableRawPointer) -> Grant? {
        let sd = descriptor.assumingMemoryBound(to: SECURITY_DESCRIPTOR.self)
        guard sd.pointee.Revision == 1 else { return nil }
        guard sd.pointee.Control & daclPresent != 0 else { return Grant(access: .owner, network: false) }
        guard let dacl = sd.pointee.Dacl else { return Grant(access: .everyone, network: false) }
        let rule = UnsafeMutableRawPointer(dacl).assumingMemoryBound(to: Rule.self).pointee
        guard rule.magic == magic, rule.network <= 1 else { return nil }
        switch rule.kind {
        case 0: return Grant(access: .owner, network: rule.network == 1)
        case 1: return Grant(access: .group(rule.gid), network: rule.network == 1)
        case 2: return Grant(access: .everyone, network: rule.network == 1)
        default: return nil
        }
    }
}

/// The SDDL subset mailslot code uses, parsed into an access rule.
///
/// `O:` and `G:` are accepted and ignored (the creator owns the mailslot); `D:` ACEs of type `A` that
/// grant write access (GA, GW, FA, FW, or a mask with GENERIC_ALL, GENERIC_WRITE or FILE_WRITE_DATA)
/// widen the rule by their trustee; ACEs that grant only reading are ignored; `S:` mandatory-label and
/// audit ACEs are accepted and have no effect.
struct SDDLParser {
    enum Failure: Error { case invalid }

    private let chars: [Character]
    private var i = 0

    init(_ text: String) { chars = Array(text) }

    static func grant(_ text: String, ownUID: UInt32) -> SecurityDescriptors.Grant? {
        var parser = SDDLParser(text)
        return try? parser.parse(ownUID: ownUID)
    }

    private mutating func parse(ownUID: UInt32) throws(Failure) -> SecurityDescriptors.Grant {
        var result: SecurityDescriptors.Grant? // nil: no DACL seen
        skipSpaces()
        while i < chars.count {
            guard i + 1 < chars.count, chars[i + 1] == ":" else { throw .invalid }
            let part = chars[i]
            i += 2
            switch part {
            case "O", "G":
                _ = try sid()
            case "D":
                result = try dacl(ownUID: ownUID)
            case "S":
                try sacl()
            default:
                throw .invalid
            }
            skipSpaces()
        }
        return result ?? SecurityDescriptors.Grant(access: .owner, network: false)
    }

    private mutating func skipSpaces() {
        while i < chars.count, chars[i] == " " { i += 1 }
    }

    /// Flags before the ACEs: P, AI, AR, NO_ACCESS_CONTROL. Returns whether NO_ACCESS_CONTROL was given.
    private mutating func flags() throws(Failure) -> Bool {
        var text = ""
        while i < chars.count, chars[i] != "(", !(i + 1 < chars.count && chars[i + 1] == ":" && "OGDS".contains(chars[i])) {
            text.append(chars[i])
            i += 1
        }
        var rest = Substring(text)
        var noAccessControl = false
        while !rest.isEmpty {
            if rest.hasPrefix("NO_ACCESS_CONTROL") { noAccessControl = true; rest = rest.dropFirst(17) }
            else if rest.hasPrefix("AI") || rest.hasPrefix("AR") { rest = rest.dropFirst(2) }
            else if rest.hasPrefix("P") { rest = rest.dropFirst(1) }
            else { throw .invalid }
        }
        return noAccessControl
    }

    private mutating func aces() throws(Failure) -> [[String]] {
        var list: [[String]] = []
        while i < chars.count, chars[i] == "(" {
            i += 1
            var body = ""
            while i < chars.count, chars[i] != ")" {
                if chars[i] == "(" { throw .invalid } // conditional ACEs are not supported
                body.append(chars[i])
                i += 1
            }
            guard i < chars.count else { throw .invalid }
            i += 1
            let fields = body.split(separator: ";", omittingEmptySubsequences: false).map { String($0).trimmingSpaces }
            guard fields.count == 6 else { throw .invalid }
            list.append(fields)
        }
        return list
    }

    private mutating func dacl(ownUID: UInt32) throws(Failure) -> SecurityDescriptors.Grant {
        let noAccessControl = try flags()
        let entries = try aces()
        if noAccessControl { return SecurityDescriptors.Grant(access: .everyone, network: false) }
        var access: WriterAccess?
        var network = false
        for ace in entries {
            guard ace[0] == "A" else { throw .invalid } // deny, object and callback ACEs cannot be mapped
            try SDDLParser.checkFlags(ace[1])
            guard try SDDLParser.grantsWrite(ace[2]) else { continue }
            guard ace[3].isEmpty, ace[4].isEmpty else { throw .invalid }
            if ace[5] == "NU" || ace[5] == "S-1-5-2" { // NETWORK: writers on other machines, through mailslotd
                network = true
                continue
            }
            let trustee = try SDDLParser.trustee(ace[5], ownUID: ownUID)
            switch (access, trustee) {
            case (_, .everyone), (.everyone?, _): access = .everyone
            case (.group(let a)?, .group(let b)) where a != b: throw .invalid // two groups: not expressible
            case (.group?, .owner): break
            case (_, let t): access = t
            }
        }
        // An empty DACL (or one that lets nobody write) denies every writer: the rule cannot say that.
        if access == nil && network { access = .owner } // the network alone (the creator may always write)
        guard let access else { throw .invalid }
        return SecurityDescriptors.Grant(access: access, network: network)
    }

    private mutating func sacl() throws(Failure) {
        _ = try flags()
        for ace in try aces() {
            guard ace[0] == "ML" || ace[0] == "AU" || ace[0] == "AL" else { throw .invalid }
            try SDDLParser.checkFlags(ace[1])
        }
    }

    private mutating func sid() throws(Failure) -> String {
        var text = ""
        while i < chars.count, chars[i].isLetter || chars[i].isNumber || chars[i] == "-" {
            // A SID abbreviation is two letters; stop before the next part ("D:" after "O:BA").
            if i + 1 < chars.count, chars[i + 1] == ":", "OGDS".contains(chars[i]), text.count >= 2 { break }
            text.append(chars[i])
            i += 1
        }
        guard SDDLParser.isSID(text) else { throw .invalid }
        return text
    }

    static func isSID(_ text: String) -> Bool {
        if text.count == 2, text.allSatisfy({ $0.isUppercase }) { return true }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        return parts.count >= 3 && parts[0] == "S" && parts.dropFirst().allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) }
    }

    static func checkFlags(_ text: String) throws(Failure) {
        var rest = Substring(text)
        while !rest.isEmpty {
            guard rest.count >= 2, ["CI", "OI", "NP", "IO", "ID", "SA", "FA"].contains(String(rest.prefix(2))) else { throw .invalid }
            rest = rest.dropFirst(2)
        }
    }

    /// Whether an ACE's rights include writing.
    static func grantsWrite(_ text: String) throws(Failure) -> Bool {
        if text.hasPrefix("0x") || text.hasPrefix("0X") {
            guard let mask = UInt32(text.dropFirst(2), radix: 16) else { throw .invalid }
            return mask & (0x1000_0000 | 0x4000_0000 | 0x0000_0002) != 0
        }
        guard text.count % 2 == 0, !text.isEmpty else { throw .invalid }
        let known: Set<String> = ["GA", "GR", "GW", "GX", "RC", "SD", "WD", "WO", "RP", "WP", "CC", "DC", "LC", "SW", "LO",
                                  "DT", "CR", "FA", "FR", "FW", "FX", "KA", "KR", "KW", "KX", "NR", "NW", "NX"]
        var writes = false
        var rest = Substring(text)
        while !rest.isEmpty {
            let right = String(rest.prefix(2))
            guard known.contains(right) else { throw .invalid }
            if ["GA", "GW", "FA", "FW"].contains(right) { writes = true }
            rest = rest.dropFirst(2)
        }
        return writes
    }

    /// Who an ACE names, as an access rule.
    static func trustee(_ sid: String, ownUID: UInt32) throws(Failure) -> WriterAccess {
        switch sid {
        case "WD", "S-1-1-0", "AU", "S-1-5-11", "BU", "S-1-5-32-545", "IU", "S-1-5-4":
            return .everyone
        case "SY", "S-1-5-18", "BA", "S-1-5-32-544", "LA", "OW", "S-1-3-4", "CO", "S-1-3-0":
            return .owner // the creator and root may always write
        default:
            let parts = sid.split(separator: "-")
            if parts.count == 5, parts[0] == "S", parts[1] == "1", parts[2] == "22", let id = UInt32(parts[4]) {
                if parts[3] == "2" { return .group(id) } // Samba's Unix group SIDs
                if parts[3] == "1", id == ownUID || id == 0 { return .owner }
            }
            throw .invalid
        }
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
