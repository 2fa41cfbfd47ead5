/// Who may open a local mailslot for writing.
///
/// The server checks every writer's kernel-verified credentials (`SO_PEERCRED`, `SO_PEERGROUPS`) when it
/// opens the mailslot; a writer the rule refuses gets ERROR_ACCESS_DENIED (5) from its open call.
/// Root (uid 0) may always write, as an administrator may on Windows.
public enum WriterAccess: Sendable, Hashable, CustomStringConvertible {
    /// Only the user that created the mailslot (and root). The default.
    case owner
    /// The creating user, root, and every process whose primary or supplementary groups include `gid`.
    case group(UInt32)
    /// Every local user.
    case everyone

    /// Whether a writer with these credentials may write to a mailslot created by `ownerUID`.
    public func permits(uid: UInt32, groups: [UInt32], ownerUID: UInt32) -> Bool {
        if uid == 0 || uid == ownerUID { return true }
        switch self {
        case .owner: return false
        case .group(let gid): return groups.contains(gid)
        case .everyone: return true
        }
    }

    public var description: String {
        switch self {
        case .owner: return "owner"
        case .group(let gid): return "group \(gid)"
        case .everyone: return "everyone"
        }
    }
}
