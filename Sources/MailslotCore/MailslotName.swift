/// A parsed mailslot name.
///
/// Accepted forms (the prefix and the names are case-insensitive, `/` may stand for `\`):
/// - `\\.\mailslot\[path\]name`: a mailslot on this machine (`\\?\mailslot\...` is accepted too);
/// - `\\Computer\mailslot\[path\]name`: that mailslot on one other machine;
/// - `\\Domain\mailslot\[path\]name`: that mailslot on every machine of a domain or workgroup;
/// - `\\*\mailslot\[path\]name`: that mailslot on every machine of this machine's own workgroup.
///
/// Only the local form can be created; the others are for writers.
public struct MailslotName: Sendable, Hashable, CustomStringConvertible {
    /// Where a name points.
    public enum Scope: Sendable, Hashable {
        /// `\\.\mailslot\...`: this machine.
        case local
        /// `\\HOST\mailslot\...`: a computer or a domain (which one is decided against the configured
        /// workgroup, see ``destination(workgroup:)``).
        case host(String)
        /// `\\*\mailslot\...`: every machine of the primary domain or workgroup.
        case primaryDomain
    }

    /// Where a writer's messages go, once the configured workgroup is known.
    public enum Destination: Sendable, Hashable {
        case local
        /// One machine: a datagram to `COMPUTER<00>`.
        case computer(String)
        /// Every machine of a domain or workgroup: a group datagram to `DOMAIN<00>`.
        case domain(String)
    }

    public let scope: Scope
    /// The path components after `mailslot\`, as written (case kept).
    public let components: [String]

    /// The path after `mailslot\`, as written, with `\` separators: `app\events`.
    public var path: String { components.joined(separator: "\\") }

    /// The path in canonical (upper-case) form: two names that differ only in case have the same key.
    /// Computed once: case folding is the costliest part of handling a name.
    public let key: String

    /// The name as it travels in a Remote Mailslot Protocol datagram: `\MAILSLOT\app\events`.
    public var wireName: String { "\\MAILSLOT\\" + path }

    /// The Win32 spelling, with the host part as written and a lower-case `mailslot`.
    public var description: String {
        switch scope {
        case .local: return "\\\\.\\mailslot\\" + path
        case .host(let host): return "\\\\\(host)\\mailslot\\" + path
        case .primaryDomain: return "\\\\*\\mailslot\\" + path
        }
    }

    public var isLocal: Bool { scope == .local }

    /// Classifies a writer's name: `\\*` and `\\WORKGROUP` (any case) address the whole workgroup,
    /// any other host a single computer.
    public func destination(workgroup: String) -> Destination {
        switch scope {
        case .local: return .local
        case .primaryDomain: return .domain(workgroup.uppercased())
        case .host(let host):
            if host.uppercased() == workgroup.uppercased() { return .domain(workgroup.uppercased()) }
            return .computer(host)
        }
    }

    /// Parses a mailslot name of any form.
    ///
    /// - Throws: ERROR_INVALID_NAME (123) for anything that is not a mailslot name, ERROR_PATH_NOT_FOUND (3)
    ///   for an empty string, ERROR_FILENAME_EXCED_RANGE (206) for a name longer than
    ///   ``MailslotLimits/longestName``.
    public init(parsing text: String) throws(MailslotError) {
        try self.init(parsing: text, longestName: MailslotLimits.longestName)
    }

    /// Parses a name with another length limit: the NT layer's `NtCreateMailslotFile` takes names up to
    /// the 32,766 UTF-16 units a `UNICODE_STRING` holds, where Win32 stops at MAX_PATH.
    package init(parsing text: String, longestName: Int) throws(MailslotError) {
        if text.isEmpty {
            throw MailslotError(.pathNotFound, "no mailslot name was given; use \\\\.\\mailslot\\NAME")
        }
        let normalized = text.replacingAll("/", with: "\\")
        guard normalized.hasPrefix("\\\\") else {
            throw MailslotName.invalid(text, "it must start with \\\\.\\mailslot\\ (or \\\\COMPUTER\\mailslot\\ for a writer)")
        }
        let parts = normalized.dropFirst(2).split(separator: "\\", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 3 else {
            throw MailslotName.invalid(text, "it needs a host part, the word mailslot and a name: \\\\.\\mailslot\\NAME")
        }
        let host = parts[0]
        guard parts[1].uppercased() == "MAILSLOT" else {
            throw MailslotName.invalid(text, "the second part must be the word 'mailslot', not '\(parts[1])'")
        }
        let scope: Scope
        switch host {
        case ".", "?": scope = .local
        case "*": scope = .primaryDomain
        case "":
            throw MailslotName.invalid(text, "the host part is empty; use . for this machine")
        default:
            guard host.utf8.count <= 255, host.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0 != "*" && $0 != "?" }) else {
                throw MailslotName.invalid(text, "'\(host)' is not a computer, domain or workgroup name")
            }
            scope = .host(host)
        }
        let components = Array(parts[2...])
        for component in components {
            if component.isEmpty {
                throw MailslotName.invalid(text, "it has an empty path level (a doubled or trailing backslash)")
            }
            if component == "." || component == ".." {
                throw MailslotName.invalid(text, "path levels '.' and '..' are not allowed")
            }
            if let bad = component.unicodeScalars.first(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                throw MailslotName.invalid(text, "it contains the control character U+\(String(bad.value, radix: 16, uppercase: true))")
            }
            // U+FFFD is what invalid UTF-8 (a shell argument, a file) turns into: two different byte strings
            // would become one name, so the replacement character is refused rather than trusted.
            if component.unicodeScalars.contains("\u{FFFD}") {
                throw MailslotName.invalid(text, "it contains U+FFFD, the replacement character: the name was not valid UTF-8 (names must be UTF-8)")
            }
        }
        let length = components.reduce(components.count - 1) { $0 + $1.utf16.count }
        if length > longestName {
            throw MailslotError(
                .filenameExceedsRange,
                "the mailslot name is \(length) characters after 'mailslot\\'; at most \(longestName) are accepted (the whole name must stay under 260 characters, as on Windows)")
        }
        self.scope = scope
        self.components = components
        self.key = MailslotName.fold(components.joined(separator: "\\"))
    }

    /// A local name from its path: `MailslotName(local: "app\\events")` is `\\.\mailslot\app\events`.
    public init(local path: String) throws(MailslotError) {
        try self.init(parsing: "\\\\.\\mailslot\\" + path)
    }

    /// Equality is case-insensitive, as on Windows.
    public static func == (lhs: MailslotName, rhs: MailslotName) -> Bool {
        lhs.scope.folded == rhs.scope.folded && lhs.key == rhs.key
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(scope.folded)
        hasher.combine(key)
    }

    /// Case folding used for names: each Unicode scalar is upper-cased when its upper case is a single
    /// scalar (Windows' simple up-case table behaves the same way: lengths never change).
    public static func fold(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            let upper = scalar.properties.uppercaseMapping.unicodeScalars
            if upper.count == 1, let first = upper.first { out.append(first) } else { out.append(scalar) }
        }
        return String(out)
    }

    static func invalid(_ text: String, _ why: String) -> MailslotError {
        MailslotError(.invalidName, "'\(text)' is not a mailslot name: \(why)")
    }
}

extension MailslotName.Scope {
    fileprivate var folded: MailslotName.Scope {
        if case .host(let h) = self { return .host(MailslotName.fold(h)) }
        return self
    }
}

extension String {
    fileprivate func replacingAll(_ target: Character, with replacement: Character) -> String {
        String(self.map { $0 == target ? replacement : $0 })
    }
}
