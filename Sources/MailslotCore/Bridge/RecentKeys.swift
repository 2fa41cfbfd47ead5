/// The datagram keys (``BridgedMessage/key``) a bridge has seen in the last `window` (at most `limit`):
/// a message whose key is here is a duplicate. Both ends of a bridge look here for every message, so it
/// allocates once, on its first key, and then never: the keys in arrival order in a ring, and an
/// open-addressed table of them with linear probing, kept at most half full; an expired key leaves the
/// table by backward shift, so no probe ever walks over a tombstone.
///
/// The keys come from a per-process seeded hash, so their low bits index the table: a peer cannot choose
/// keys that collide.
package struct RecentKeys: Sendable {
    /// What a bridge uses: 30 s, and 16,384 keys (about 640 KiB, taken on the first key).
    package static let window: Duration = .seconds(30)
    package static let limit = 16_384

    package let window: Duration
    /// The most keys held: a power of two.
    package let limit: Int
    private var order: [(key: UInt64, at: ContinuousClock.Instant)] = []
    /// The oldest key's place in `order`, and how many keys are held.
    private var oldest = 0
    private var count = 0
    /// `limit * 2` slots; 0 is an empty slot, so the key 0 is held apart, in `holdsZero`.
    private var table: [UInt64] = []
    private var holdsZero = false
    private var mask: Int { limit * 2 - 1 }

    /// `limit` is rounded up to a power of two.
    package init(window: Duration = RecentKeys.window, limit: Int = RecentKeys.limit) {
        self.window = window
        var size = 1
        while size < limit { size *= 2 }
        self.limit = size
    }

    /// How many keys are held.
    package var held: Int { count }

    /// Adds `key` seen at `now`, after forgetting the keys older than the window (or the oldest, when
    /// `limit` are held). False when it was already held: a duplicate.
    package mutating func insert(_ key: UInt64, now: ContinuousClock.Instant) -> Bool {
        if order.isEmpty {
            order = Array(repeating: (0, now), count: limit)
            table = Array(repeating: 0, count: limit * 2)
        }
        while count > 0, count >= limit || now - order[oldest].at > window {
            remove(order[oldest].key)
            oldest = (oldest + 1) & (limit - 1)
            count -= 1
        }
        if key == 0 {
            guard !holdsZero else { return false }
            holdsZero = true
        } else {
            var slot = Int(truncatingIfNeeded: key) & mask
            while table[slot] != 0 {
                if table[slot] == key { return false }
                slot = (slot + 1) & mask
            }
            table[slot] = key
        }
        order[(oldest + count) & (limit - 1)] = (key, now)
        count += 1
        return true
    }

    package func contains(_ key: UInt64) -> Bool {
        if key == 0 { return holdsZero }
        guard !table.isEmpty else { return false }
        var slot = Int(truncatingIfNeeded: key) & mask
        while table[slot] != 0 {
            if table[slot] == key { return true }
            slot = (slot + 1) & mask
        }
        return false
    }

    /// Takes a held key out of the table, moving back the keys of its probe run that would otherwise
    /// be cut off from their home slot.
    private mutating func remove(_ key: UInt64) {
        guard key != 0 else { holdsZero = false; return }
        var hole = Int(truncatingIfNeeded: key) & mask
        while table[hole] != key {
            guard table[hole] != 0 else { return } // not held (cannot happen: every key in the ring is)
            hole = (hole + 1) & mask
        }
        var next = hole
        while true {
            next = (next + 1) & mask
            let moved = table[next]
            if moved == 0 { break }
            let home = Int(truncatingIfNeeded: moved) & mask
            // `moved` stays where it is when its home lies cyclically in (hole, next].
            let stays = hole <= next ? (hole < home && home <= next) : (hole < home || home <= next)
            if stays { continue }
            table[hole] = moved
            hole = next
        }
        table[hole] = 0
    }
}
