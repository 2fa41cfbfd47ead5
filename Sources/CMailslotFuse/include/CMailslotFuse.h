// The subset of libfuse3's LOW-LEVEL API that Mailslot's FUSE file system uses, declared under our own
// names (every identifier starts with cmf_ / CMF_) so that this header can never clash with the real
// <fuse3/fuse_lowlevel.h>, and loaded at run time: the package builds on a machine with nothing but the
// Swift toolchain (no libfuse3-dev), and a machine without libfuse3 only loses the file system.
//
// Why declare it ourselves: SwiftPM cannot make a system library optional, and linking -lfuse3 would make
// every Mailslot binary fail to start where libfuse3 is missing. So cmf_load() dlopen()s the library and
// dlsym()s each function into a table, and the cmf_* wrappers below call through that table.
//
// ABI: the structs below have the layout of libfuse 3.x on 64-bit Linux (x86_64, aarch64). They were
// checked member by member by Tests/MailslotFilesTests/Fixtures/fuse_abi_check.c against the headers of
// libfuse 3.14.0 (Debian 12) and of the 3.10.0, 3.12.0, 3.16.2, 3.17.1, 3.17.4 and 3.18.2 releases, and
// a prototype file system ran on this shim with 3.14.0, 3.16.2 and 3.18.2 (libfuse3.so.4). Where libfuse
// changed a struct, the comment at that struct says how, and what we do about it. In short:
//   - the shared library is libfuse3.so.3 up to 3.16 and libfuse3.so.4 from 3.17 on (the soname was
//     bumped for the fuse_file_info break below); cmf_load() tries both;
//   - struct fuse_file_info: 3.15 and 3.16 inserted a bit in the middle of the flag bits (an ABI break,
//     undone in 3.17), and 3.17 appended fields: read and set the flag bits with cmf_fi_get/cmf_fi_set,
//     which follow the loaded library's layout, and only ever reply with the fuse_file_info that libfuse
//     handed to the callback;
//   - struct fuse_buf: 3.17 appended mem_size, which fuse_session_receive_buf writes: our cmf_fuse_buf
//     includes it, so a buffer we own is large enough for every version.
//
// Threads: every cmf_* function but cmf_load may be called from any thread once cmf_load has returned 0;
// libfuse's own locking makes replies, notifications and receive/process safe to call concurrently
// (libfuse's fuse_session_loop_mt does the same thing from its workers).
#ifndef CMAILSLOT_FUSE_H
#define CMAILSLOT_FUSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/uio.h>

// Nullability is a clang extension; gcc (used for the ABI check fixture) gets empty annotations.
#if !defined(__clang__)
#  ifndef _Nonnull
#    define _Nonnull
#  endif
#  ifndef _Nullable
#    define _Nullable
#  endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - Loading

/// Loads libfuse3 (libfuse3.so.3, then libfuse3.so.4) and resolves every function below. Idempotent and
/// thread-safe: the first call does the work, later calls return its result. Returns 0, or -1 with a
/// one-line message in `error` (what is missing, and that Debian's fuse3 package provides it).
int cmf_load(char *_Nonnull error, size_t errorSize);

/// The loaded library's version as 100 * major + minor (314 for 3.14.0), parsed from fuse_pkgversion()
/// (fuse_version() is unreliable before 3.10: 3.2 through 3.9.3 all report 32); 0 before a successful
/// cmf_load.
int cmf_version(void);

/// The loaded library's package version string ("3.14.0"), or NULL before a successful cmf_load.
const char *_Nullable cmf_pkgversion(void);

/// The file name that was loaded ("libfuse3.so.3"), or NULL before a successful cmf_load.
const char *_Nullable cmf_library_name(void);

/// Routes libfuse's diagnostics that go through fuse_log (to stderr by default: "fuse: unknown option(s)",
/// "fuse: error: filesystem requested capabilities ...") to `handler`, one fuse_log call at a time,
/// formatted, without its trailing newline (some messages come in several pieces; level: 0 emergency ...
/// 7 debug, as syslog). It may be called on any thread. NULL restores stderr. Process-wide, like libfuse's
/// own setting. Returns 0, or -1 when the library has no fuse_set_log_func (< 3.7).
/// Not covered: the few errors libfuse reports with perror() ("fuse: reading device: ...", "fuse: writing
/// device: ...") still go to stderr.
int cmf_set_log_handler(void (*_Nullable handler)(int level, const char *_Nonnull message));

// MARK: - Types (libfuse 3.x ABI)

/// fuse_ino_t: the inode number the kernel uses for a node. 1 (CMF_FUSE_ROOT_ID) is the mount's root.
typedef uint64_t cmf_fuse_ino_t;
#define CMF_FUSE_ROOT_ID 1

/// fuse_req_t: one request from the kernel, owned by libfuse until exactly one cmf_reply_* (or
/// cmf_reply_none, for forget) is called on it, from any thread, at any later time. Opaque.
typedef struct cmf_fuse_req *cmf_fuse_req_t;

/// struct fuse_session: one mount's connection. Opaque.
struct cmf_fuse_session;

/// struct fuse_pollhandle: the kernel's poll wait, handed to the poll op when the poller will sleep.
/// Opaque; keep it until the file becomes ready, then cmf_notify_poll and cmf_pollhandle_destroy it.
struct cmf_fuse_pollhandle;

/// struct fuse_conn_info (fuse_common.h): the connection parameters, filled by libfuse from the kernel's
/// FUSE_INIT and passed to the init op, which may lower max_write (never raise it: see below) and set or
/// clear `want` bits (only bits that are also in `capable`, else libfuse fails the mount with EPROTO).
/// 128 bytes in every 3.x.
/// In 3.17+ the first words of `reserved` became max_backing_stack_depth, a bit field (no_interrupt),
/// capable_ext and want_ext (64-bit twins of capable/want): setting `want` alone keeps working there
/// (libfuse copies a changed `want` into want_ext after init), so we never touch `reserved`.
/// max_write: libfuse presets the most its receive buffer (1 MiB + 4 KiB) holds, 1 MiB. Raising it is
/// fatal with libfuse < 3.17: libfuse tells the kernel the larger value, the kernel then refuses every
/// read(2) of /dev/fuse into the smaller buffer (EINVAL), and the file system is dead (measured: 3.14 with
/// 8 MiB). 3.17+ clamps it back to 1 MiB for callers of fuse_session_receive_buf. max_write also sets the
/// kernel's max_pages (max_write / page size, capped by sysctl fs.fuse.max_pages_limit, 256 by default),
/// which bounds READ requests too. The kernel sends one write(2) as one request only when its buffer spans
/// at most max_pages pages: with 1 MiB, any single buffer up to 1044481 bytes (1 MiB - 4095) whatever its
/// alignment; longer ones (and writev whose segments touch more than 256 pages) arrive as several
/// requests, sent one after another, each only after the previous one was answered.
struct cmf_fuse_conn_info {
    uint32_t proto_major;          ///< kernel FUSE protocol major (7)
    uint32_t proto_minor;          ///< kernel FUSE protocol minor (45 on Linux 6.18)
    uint32_t max_write;            ///< largest WRITE payload (preset 1 MiB). Only ever LOWER it: see below
    uint32_t max_read;             ///< must stay what fuse_session_new's -o max_read gave (else EPROTO)
    uint32_t max_readahead;        ///< irrelevant with direct_io
    uint32_t capable;              ///< CMF_CAP_* the kernel and libfuse support
    uint32_t want;                 ///< CMF_CAP_* to enable; preset with libfuse's defaults
    uint32_t max_background;       ///< pending background requests (async reads) the kernel allows
    uint32_t congestion_threshold; ///< background requests before the kernel reports congestion
    uint32_t time_gran;            ///< timestamp granularity in ns (libfuse presets 1)
    uint32_t reserved[22];         ///< 3.17+: see above. Never touch.
};

/// FUSE_CAP_* bits of cmf_fuse_conn_info.capable / .want (a bit keeps its value in every 3.x that has it).
#define CMF_CAP_ASYNC_READ           0x00000001u ///< reads may be sent concurrently (default on)
#define CMF_CAP_POSIX_LOCKS          0x00000002u
#define CMF_CAP_ATOMIC_O_TRUNC       0x00000008u ///< O_TRUNC goes to open, not a setattr (default on)
#define CMF_CAP_EXPORT_SUPPORT       0x00000010u
#define CMF_CAP_DONT_MASK            0x00000040u
#define CMF_CAP_SPLICE_WRITE         0x00000080u
#define CMF_CAP_SPLICE_MOVE          0x00000100u
#define CMF_CAP_SPLICE_READ          0x00000200u ///< needs write_buf; we leave it off
#define CMF_CAP_FLOCK_LOCKS          0x00000400u
#define CMF_CAP_IOCTL_DIR            0x00000800u
#define CMF_CAP_AUTO_INVAL_DATA      0x00001000u
#define CMF_CAP_READDIRPLUS          0x00002000u
#define CMF_CAP_READDIRPLUS_AUTO     0x00004000u
#define CMF_CAP_ASYNC_DIO            0x00008000u
#define CMF_CAP_WRITEBACK_CACHE      0x00010000u ///< never for mailslots: it would merge writes
#define CMF_CAP_NO_OPEN_SUPPORT      0x00020000u
#define CMF_CAP_PARALLEL_DIROPS      0x00040000u
#define CMF_CAP_POSIX_ACL            0x00080000u
#define CMF_CAP_HANDLE_KILLPRIV      0x00100000u
#define CMF_CAP_CACHE_SYMLINKS       0x00800000u ///< 3.10+
#define CMF_CAP_NO_OPENDIR_SUPPORT   0x01000000u ///< 3.5+
#define CMF_CAP_EXPLICIT_INVAL_DATA  0x02000000u ///< 3.9+
#define CMF_CAP_EXPIRE_ONLY          0x04000000u ///< 3.13+

/// struct fuse_args (fuse_opt.h): the option vector for cmf_session_new. argv[0] is a program name and is
/// never parsed; options follow as "-o", "allow_other,default_permissions" or "-oallow_other".
/// Pitfall: fuse_session_new REPLACES *args with a copy it allocates (allocated = 1) holding the
/// options it did not consume; call cmf_opt_free_args(args) after it (success or not). The strings you
/// passed in are never freed by libfuse.
struct cmf_fuse_args {
    int argc;
    char *_Nullable *_Nullable argv; ///< NULL-terminated
    int allocated;                   ///< 0 for a vector we own
};

/// struct fuse_file_info (fuse_common.h): per-open-file state, handed to open/create/read/write/release/
/// opendir/readdir/releasedir/poll/getattr (NULL there unless the kernel sent a handle).
///
/// Layout history (why the flag bits must go through cmf_fi_get / cmf_fi_set):
///   3.0-3.4   bits 0..5: writepage direct_io keep_cache flush nonseekable flock_release; 40 bytes
///   3.5       + cache_readdir (bit 6)
///   3.10      the padding became padding:25 + padding2:32 (same 40 bytes)
///   3.11      + noflush (bit 7)            (3.11-3.14; Debian 12 has 3.14, Ubuntu 24.04 3.14)
///   3.15-3.16 + parallel_direct_writes INSERTED at bit 3, shifting flush..noflush up by one (ABI break)
///   3.17+     parallel_direct_writes moved to bit 8, the old bits restored; padding3:32, and backing_id,
///             compat_flags, reserved[2] appended: 64 bytes. The soname became libfuse3.so.4 (Debian 13:
///             libfuse3-4, 3.17.2).
/// This struct is the 3.17+ one: a prefix-compatible superset of every version (the fields after
/// poll_events exist in memory only with libfuse >= 3.17; never read them). libfuse always hands us its
/// own instance; reply with that pointer (cmf_reply_open/create read backing_id in 3.17+, so a 40-byte
/// copy of our own would feed them garbage).
struct cmf_fuse_file_info {
    int32_t flags;                       ///< open(2) flags; in read/write: the file's CURRENT f_flags
    uint32_t writepage : 1;              ///< write: from the page cache (never with direct_io)
    uint32_t direct_io : 1;              ///< open/create reply: bypass the page cache (FOPEN_DIRECT_IO)
    uint32_t keep_cache : 1;             ///< open reply: keep cached data
    uint32_t flush : 1;                  ///< release: also flush (3.15/3.16: bit 4, use cmf_fi_get)
    uint32_t nonseekable : 1;            ///< open reply: lseek fails with ESPIPE (FOPEN_NONSEEKABLE)
    uint32_t flock_release : 1;          ///< release: drop flock locks
    uint32_t cache_readdir : 1;          ///< opendir reply: cache the listing (3.5+)
    uint32_t noflush : 1;                ///< open reply: no FLUSH on close (3.11+)
    uint32_t parallel_direct_writes : 1; ///< open reply (3.17+; 3.15/3.16: bit 3). Never for mailslots:
                                         ///< without it the kernel holds the inode lock for a whole
                                         ///< write(2), so the requests of one split write never interleave
                                         ///< with other writers' (measured)
    uint32_t padding : 23;
    uint32_t padding2 : 32;
    uint32_t padding3 : 32;              ///< 3.17+ (alignment padding before fh in earlier versions)
    uint64_t fh;                         ///< ours: set in open/create, seen in every later op
    uint64_t lock_owner;
    uint32_t poll_events;                ///< poll: the events the poller asked for (kernel 7.21+)
    int32_t backing_id;                  ///< 3.17+ only (passthrough). Never read; keep 0.
    uint64_t compat_flags;               ///< 3.17+ only. Never read.
    uint64_t reserved[2];                ///< 3.17+ only. Never read.
};

/// The flag bits of cmf_fuse_file_info, by name. cmf_fi_get / cmf_fi_set map them to the bit positions of
/// the LOADED library, which differ in 3.15 and 3.16 (see above); the bitfields in the struct are the
/// positions of every other 3.x and are there for the ABI check, not for use.
enum cmf_fi_bit {
    CMF_FI_WRITEPAGE = 0,
    CMF_FI_DIRECT_IO = 1,
    CMF_FI_KEEP_CACHE = 2,
    CMF_FI_FLUSH = 3,
    CMF_FI_NONSEEKABLE = 4,
    CMF_FI_FLOCK_RELEASE = 5,
    CMF_FI_CACHE_READDIR = 6,
    CMF_FI_NOFLUSH = 7,
    CMF_FI_PARALLEL_DIRECT_WRITES = 8,
};
/// The bit (0 = least significant) of `bit` in the 32-bit word after `flags` for libfuse version `version`
/// (100 * major + minor), or -1 when that version has no such bit. cmf_fi_get/set use it with
/// cmf_version(); the ABI check uses it against each header.
int cmf_fi_bit_position(int version, enum cmf_fi_bit bit);
/// 1 when the bit is set, 0 when clear or when the loaded library has no such bit.
int cmf_fi_get(const struct cmf_fuse_file_info *_Nonnull fi, enum cmf_fi_bit bit);
/// Sets (on != 0) or clears the bit. Returns 0, or -1 (nothing changed) when the loaded library has no
/// such bit (cache_readdir < 3.5, noflush < 3.11, parallel_direct_writes < 3.15).
int cmf_fi_set(struct cmf_fuse_file_info *_Nonnull fi, enum cmf_fi_bit bit, int on);

/// struct fuse_entry_param (fuse_lowlevel.h): a lookup/create reply. Unchanged in every 3.x.
/// Each successful cmf_reply_entry / cmf_reply_create adds one to the inode's lookup count, which forget
/// later subtracts. ino 0 with entry_timeout > 0 is a negative entry (the name is cached as absent).
struct cmf_fuse_entry_param {
    cmf_fuse_ino_t ino;
    uint64_t generation; ///< (ino, generation) must be unique over the file system's life
    struct stat attr;    ///< glibc's struct stat; st_ino should equal ino
    double attr_timeout; ///< seconds the kernel may cache attr
    double entry_timeout;///< seconds the kernel may cache the name -> ino mapping
};

/// struct fuse_ctx (fuse_lowlevel.h): who made a request. Unchanged in every 3.x.
/// uid/gid are the caller's FILESYSTEM ids (fsuid/fsgid), in the mount's user namespace; pid is the
/// calling THREAD's id (the tid) as the mount's pid namespace sees it (0 when not visible there).
struct cmf_fuse_ctx {
    uid_t uid;
    gid_t gid;
    pid_t pid;
    mode_t umask; ///< the caller's umask, for create/mknod/mkdir (kernel 7.12+, else 0)
};

/// struct fuse_buf (fuse_common.h): one request as read from /dev/fuse by cmf_session_receive_buf.
/// Start with all zero (mem NULL): libfuse then malloc()s the buffer (its current bufsize: 1 MiB + 4 KiB
/// before FUSE_INIT, max_write + 4 KiB after) and reuses it on every later call with the same struct;
/// free(mem) when done. One cmf_fuse_buf per receiving thread, never shared.
/// 3.17 appended mem_size, which receive_buf writes (even for callers outside libfuse, in 3.17.1):
/// it is declared here so that the struct we own is large enough for every version.
struct cmf_fuse_buf {
    size_t size;     ///< bytes of the request
    uint32_t flags;  ///< enum fuse_buf_flags; CMF_FUSE_BUF_IS_FD when it came through a pipe (splice)
    void *_Nullable mem;
    int fd;
    off_t pos;
    size_t mem_size; ///< 3.17+ only
};
#define CMF_FUSE_BUF_IS_FD (1u << 1)

/// struct fuse_forget_data (fuse_lowlevel.h): one entry of a forget_multi batch. Unchanged in every 3.x.
struct cmf_fuse_forget_data {
    cmf_fuse_ino_t ino;
    uint64_t nlookup;
};

/// The setattr `to_set` bits (FUSE_SET_ATTR_*), for the ones a mailslot file answers.
#define CMF_SET_ATTR_MODE      (1 << 0)
#define CMF_SET_ATTR_UID       (1 << 1)
#define CMF_SET_ATTR_GID       (1 << 2)
#define CMF_SET_ATTR_SIZE      (1 << 3)
#define CMF_SET_ATTR_ATIME     (1 << 4)
#define CMF_SET_ATTR_MTIME     (1 << 5)
#define CMF_SET_ATTR_ATIME_NOW (1 << 7)
#define CMF_SET_ATTR_MTIME_NOW (1 << 8)
#define CMF_SET_ATTR_CTIME     (1 << 10)

/// fuse_interrupt_func_t: called when the kernel interrupts a request (its caller got a signal, fatal or
/// caught). It runs on a receiving thread WITH the request's internal lock held, and runs synchronously
/// inside cmf_req_interrupt_func when the interrupt arrived first. Until the request is answered the
/// caller waits, even a SIGKILLed one (unkillable, state D: measured), so answer promptly (EINTR).
/// Protocol that needs no reply arbitration (used by the prototype): only the request's owner replies.
///   1. register with cmf_req_interrupt_func(req, cb, state) BEFORE publishing req to other threads;
///   2. cb only marks `state` interrupted and wakes the owner; it takes no lock the owner may hold in 3;
///   3. the owner, before replying, calls cmf_req_interrupt_func(req, NULL, NULL): that waits out a cb
///      that is running and no cb comes after it, so the owner may reply and then free `state`.
typedef void (*cmf_fuse_interrupt_func_t)(cmf_fuse_req_t _Nonnull req, void *_Nullable data);

/// struct fuse_lowlevel_ops (fuse_lowlevel.h): the callbacks, in libfuse's order. Members up to lseek are
/// the layout of 3.8 through 3.16; later versions only APPEND (tmpfile 3.17, statx 3.18, syncfs 3.19),
/// and libfuse copies min(our size, its size) bytes, so passing sizeof(ours) is correct for every 3.x.
/// A NULL member makes libfuse answer ENOSYS (for most ops the kernel then never asks again).
/// Ops we implement are typed so Swift can assign C-convention closures; the others are `void *` in
/// their position (leave them NULL).
/// Every op but init/destroy/forget/forget_multi must eventually reply exactly once (from any thread).
struct cmf_fuse_lowlevel_ops {
    /// FUSE_INIT. Set conn->max_write, conn->want here. No reply.
    void (*_Nullable init)(void *_Nullable userdata, struct cmf_fuse_conn_info *_Nonnull conn);
    /// Session end (from cmf_session_destroy, or the kernel's DESTROY). No reply.
    void (*_Nullable destroy)(void *_Nullable userdata);
    /// Name -> entry. Reply: cmf_reply_entry or cmf_reply_err (ENOENT).
    void (*_Nullable lookup)(cmf_fuse_req_t _Nonnull req, cmf_fuse_ino_t parent, const char *_Nonnull name);
    /// The kernel dropped `nlookup` references to ino. Reply: cmf_reply_none.
    void (*_Nullable forget)(cmf_fuse_req_t _Nonnull req, cmf_fuse_ino_t ino, uint64_t nlookup);
    /// stat. fi is NULL unless the kernel sent a handle (fstat). Reply: cmf_reply_attr or cmf_reply_err.
    void (*_Nullable getattr)(cmf_fuse_req_t _Nonnull req, cmf_fuse_ino_t ino,
                              struct cmf_fuse_file_info *_Nullable fi);
    /// chmod/chown/truncate/utimes (touch). Reply: cmf_reply_attr or cmf_reply_err.
    void (*_Nullable setattr)(cmf_fuse_req_t _Nonnull req, cmf_fuse_ino_t ino, struct stat *_Nonnull attr,
                              int to_set, struct cmf_fuse_file_info *_Nullable fi);
    void *_Nullable readlink;
    void *_Nullable mknod;   ///< only used by the kernel when create is NULL
    void *_Nullable mkdir;
    /// unlink(2). Reply: cmf_reply_err (0 on success).
    void (*_Nullable unlink)(cmf_fuse_req_t _Nonnull req, cmf_fuse_ino_t parent, const char *_Nonnull name);
    void *_Nullable rmdir;
    void *_Nullable symlink;
    void *_Nullable rename;
    void *_Nullable link;
    /// open(2) of an existing node. Set fi->fh and, via cmf_fi_set, direct_io/nonseekable. Reply:
    /// cmf_reply_open(req, fi) with the fi given here, or cmf_reply_err.
    void (*_Nullable open)(cmf_fuse_req_t _Nonnull req, cmf_fuse_ino_t ino, struct cmf_fuse_file_info *_Nonnull fi);
    /// read(2): `size` bytes at `off`. Reply: cmf_reply_buf with <= size bytes (0 = end of file) or
    /// cmf_reply_err. May be answered later from another thread.
    void (*_Nullable read)(cmf_fuse_req_t _Nonnull req, cmf_fuse_ino_t ino, size_t size, off_t off,
                           struct cmf_fuse_file_info *_Nonnull fi);
    /// write(2): `buf` holds `size` bytes, valid only during the call. Reply: cmf_reply_write or cmf_reply_err.
    void (*_Nullable write)(cmf_fuse_req_t _Nonnull req, cmf_fuse_ino_t ino, const char *_Nonnull buf, size_t size,
                            off_t off, struct cmf_fuse_file_info *_Nonnull fi);
    /// close(2) of one descriptor (there may be several per open). Reply: cmf_reply_err.
    void (*_Nullable flush)(cmf_fuse_req_t _Nonnull req, cmf_fuse_ino_t ino, struct cmf_fuse_file_info *_Nonnull fi);
    /// Last close of an open file. Reply: cmf_reply_err (the result is ignored by the kernel).
    void (*_Nullable release)(cmf_fuse_req_t _Nonnull req, cmf_fuse_ino_t ino, struct cmf_fuse_file_info *_Nonnull fi);
    void *_Nullable fsync;
    /// opendir. Reply: cmf_reply_open or cmf_reply_err.
    void (*_Nullable opendir)(cmf_fuse_req_t _Nonnull req, cmf_fuse_ino_t ino, struct cmf_fuse_file_info *_Nonnull fi);
    /// getdents: fill with cmf_add_direntry up to `size` bytes from cookie `off`; reply cmf_reply_buf
    /// (0 bytes = end).
    void (*_Nullable readdir)(cmf_fuse_req_t _Nonnull req, cmf_fuse_ino_t ino, size_t size, off_t off,
                              struct cmf_fuse_file_info *_Nonnull fi);
    /// closedir. Reply: cmf_reply_err.
    void (*_Nullable releasedir)(cmf_fuse_req_t _Nonnull req, cmf_fuse_ino_t ino,
                                 struct cmf_fuse_file_info *_Nonnull fi);
    void *_Nullable fsyncdir;
    void *_Nullable statfs;      ///< NULL: libfuse replies with a zeroed statvfs (namelen 255)
    void *_Nullable setxattr;
    void *_Nullable getxattr;
    void *_Nullable listxattr;
    void *_Nullable removexattr;
    void *_Nullable access;      ///< NULL: ENOSYS, then the kernel stops asking (access(2) succeeds)
    /// open(2) with O_CREAT of a name that lookup did NOT find. Reply: cmf_reply_create(req, &entry, fi)
    /// with the fi given here, or cmf_reply_err. With O_EXCL and a name lookup found, the kernel fails
    /// with EEXIST itself and never calls this.
    void (*_Nullable create)(cmf_fuse_req_t _Nonnull req, cmf_fuse_ino_t parent, const char *_Nonnull name,
                             mode_t mode, struct cmf_fuse_file_info *_Nonnull fi);
    void *_Nullable getlk;
    void *_Nullable setlk;
    void *_Nullable bmap;
    void *_Nullable ioctl;
    /// poll(2)/select/epoll. Reply cmf_reply_poll(req, ready events) now. `ph` is non-NULL when the
    /// caller may wait (in practice on every poll(2)/epoll call, even when already ready): if not ready,
    /// keep it, and when the file becomes ready call cmf_notify_poll(ph) then cmf_pollhandle_destroy(ph)
    /// (the kernel wakes the pollers, which poll again); otherwise destroy it at once. A newer ph for the
    /// same open file replaces the older one (destroy the older).
    void (*_Nullable poll)(cmf_fuse_req_t _Nonnull req, cmf_fuse_ino_t ino, struct cmf_fuse_file_info *_Nonnull fi,
                           struct cmf_fuse_pollhandle *_Nullable ph);
    void *_Nullable write_buf;   ///< keep NULL: it would switch on splice and hand us fd buffers
    void *_Nullable retrieve_reply;
    /// Several forgets at once. NULL: libfuse calls forget once per entry. Reply: cmf_reply_none.
    void (*_Nullable forget_multi)(cmf_fuse_req_t _Nonnull req, size_t count,
                                   struct cmf_fuse_forget_data *_Nonnull forgets);
    void *_Nullable flock;
    void *_Nullable fallocate;
    void *_Nullable readdirplus; ///< NULL: the kernel uses readdir
    void *_Nullable copy_file_range;
    void *_Nullable lseek;
};

// MARK: - Session (fuse_lowlevel.h)

/// fuse_session_new (pinned to its FUSE_3.0 symbol version, see fuse.c): parses mount options (-o
/// allow_other, default_permissions, fsname=, subtype=, max_read=, -d for debug) and copies `ops`.
/// Returns NULL (after printing why through the log handler) on unknown options. See cmf_fuse_args for
/// the args pitfall.
struct cmf_fuse_session *_Nullable cmf_session_new(struct cmf_fuse_args *_Nonnull args,
                                                   const struct cmf_fuse_lowlevel_ops *_Nonnull ops,
                                                   void *_Nullable userdata);
/// fuse_opt_free_args: frees what fuse_session_new allocated into *args (no-op when allocated == 0).
void cmf_opt_free_args(struct cmf_fuse_args *_Nonnull args);
/// fuse_session_mount: opens /dev/fuse and mounts (root: mount(2) directly; others: through the setuid
/// fusermount3). Returns 0 or -1. After it, FUSE_INIT is the first request to receive.
int cmf_session_mount(struct cmf_fuse_session *_Nonnull se, const char *_Nonnull mountpoint);
/// fuse_session_unmount: CLOSES the /dev/fuse descriptor (the session's fd becomes -1), then detaches
/// the mount (umount2 MNT_DETACH as root, `fusermount3 -u -q -z` otherwise). So: stop and join every
/// receiving thread BEFORE calling it (a thread still in read(2) is not woken by the close, and a later
/// receive would use fd -1 or, worse, a reused number). Closing the last /dev/fuse descriptor aborts the
/// connection: callers still waiting on a request fail with ECONNABORTED, later calls on files still open
/// with ENOTCONN (measured).
void cmf_session_unmount(struct cmf_fuse_session *_Nonnull se);
/// fuse_session_destroy: calls the destroy op (if INIT was seen and it was not called yet), closes the
/// descriptor if cmf_session_unmount did not, and frees the session. After every receiving thread stopped,
/// and after every request we held was answered (answer them EINTR/EIO first): a reply after this is a
/// use-after-free, since libfuse does not track held requests.
void cmf_session_destroy(struct cmf_fuse_session *_Nonnull se);
/// fuse_session_fd: the /dev/fuse descriptor, e.g. to set O_NONBLOCK and poll it with a wake-up eventfd.
int cmf_session_fd(struct cmf_fuse_session *_Nonnull se);
/// fuse_session_exit: sets the "exited" flag (nothing is woken; see cmf_session_receive_buf). A request
/// that cmf_session_receive_buf reads after this is dropped without an answer (its caller waits until the
/// connection is closed), so unmount promptly after it.
void cmf_session_exit(struct cmf_fuse_session *_Nonnull se);
/// fuse_session_exited: 1 once cmf_session_exit was called or the kernel ended the connection.
int cmf_session_exited(struct cmf_fuse_session *_Nonnull se);
/// fuse_session_receive_buf: reads ONE request from /dev/fuse into *buf (allocating buf->mem on first
/// use). Returns its size (> 0); 0 when the session has exited (also when the file system was unmounted
/// or the connection aborted: ENODEV); -EINTR, -EAGAIN (the fd is O_NONBLOCK and nothing is pending) or
/// another -errno. Several threads may call it at once, each with its own buf.
int cmf_session_receive_buf(struct cmf_fuse_session *_Nonnull se, struct cmf_fuse_buf *_Nonnull buf);
/// fuse_session_process_buf: decodes the request in *buf and calls the op (on this thread). The request
/// bytes (e.g. a write's payload) are only valid until this returns; the reply may come later.
void cmf_session_process_buf(struct cmf_fuse_session *_Nonnull se, const struct cmf_fuse_buf *_Nonnull buf);

// MARK: - Requests

/// fuse_req_userdata: the userdata given to cmf_session_new.
void *_Nullable cmf_req_userdata(cmf_fuse_req_t _Nonnull req);
/// fuse_req_ctx: the caller's fsuid, fsgid, tid and umask. Valid until the request is replied to.
const struct cmf_fuse_ctx *_Nonnull cmf_req_ctx(cmf_fuse_req_t _Nonnull req);
/// fuse_req_getgroups: the caller's supplementary groups, read from /proc/<tid>/task/<tid>/status (the
/// kernel does not send them; racy if the caller has exited). Returns the total count (may exceed
/// `size`: call again with a larger array) or -errno (-ENOSYS on non-Linux).
int cmf_req_getgroups(cmf_fuse_req_t _Nonnull req, int size, gid_t *_Nonnull list);
/// fuse_req_interrupt_func: registers (or, with NULL, clears) the interrupt callback. If the request was
/// already interrupted, `func` is called right away, inside this call.
void cmf_req_interrupt_func(cmf_fuse_req_t _Nonnull req, cmf_fuse_interrupt_func_t _Nullable func,
                            void *_Nullable data);
/// fuse_req_interrupted: 1 if the kernel has interrupted the request.
int cmf_req_interrupted(cmf_fuse_req_t _Nonnull req);

// MARK: - Replies (each returns 0 or -errno; the request is gone afterwards either way)

/// fuse_reply_err: err is a positive errno, or 0 for success where no data is returned.
int cmf_reply_err(cmf_fuse_req_t _Nonnull req, int err);
/// fuse_reply_none: for forget / forget_multi only.
void cmf_reply_none(cmf_fuse_req_t _Nonnull req);
int cmf_reply_entry(cmf_fuse_req_t _Nonnull req, const struct cmf_fuse_entry_param *_Nonnull e);
/// fi: the one the create op received.
int cmf_reply_create(cmf_fuse_req_t _Nonnull req, const struct cmf_fuse_entry_param *_Nonnull e,
                     const struct cmf_fuse_file_info *_Nonnull fi);
int cmf_reply_attr(cmf_fuse_req_t _Nonnull req, const struct stat *_Nonnull attr, double attr_timeout);
/// fi: the one the open/opendir op received.
int cmf_reply_open(cmf_fuse_req_t _Nonnull req, const struct cmf_fuse_file_info *_Nonnull fi);
/// count: bytes accepted (a short count makes write(2) return it).
int cmf_reply_write(cmf_fuse_req_t _Nonnull req, size_t count);
/// Data for read/readdir; size may be 0.
int cmf_reply_buf(cmf_fuse_req_t _Nonnull req, const char *_Nullable buf, size_t size);
/// fuse_reply_iov: data gathered from several buffers (e.g. a header and a body) without copying first.
int cmf_reply_iov(cmf_fuse_req_t _Nonnull req, const struct iovec *_Nonnull iov, int count);
/// revents: POLLIN | POLLOUT | ... ready now.
int cmf_reply_poll(cmf_fuse_req_t _Nonnull req, unsigned revents);

/// fuse_add_direntry: appends one entry to a readdir buffer (only st_ino and st_mode's type are used);
/// `off` is the cookie of the NEXT entry. Returns the size it needs; when that exceeds bufsize nothing was
/// written: stop and reply with what you have. buf may be NULL to measure.
size_t cmf_add_direntry(cmf_fuse_req_t _Nonnull req, char *_Nullable buf, size_t bufsize,
                        const char *_Nonnull name, const struct stat *_Nonnull stbuf, off_t off);

// MARK: - Notifications (sent by us, at any time, from any thread)

/// fuse_lowlevel_notify_poll: wakes the pollers waiting on ph (they poll again). Does not free ph.
int cmf_notify_poll(struct cmf_fuse_pollhandle *_Nonnull ph);
/// fuse_pollhandle_destroy.
void cmf_pollhandle_destroy(struct cmf_fuse_pollhandle *_Nullable ph);
/// fuse_lowlevel_notify_inval_entry: drops the kernel's cached name -> inode (positive or negative) of
/// parent/name, so the next lookup asks us. For names that appear or go away. Returns 0 or -errno
/// (-ENOENT when the kernel had nothing cached).
/// The kernel takes the parent directory's lock to do it: never call this (nor notify_delete) from an op
/// callback before replying, nor while holding a lock an op callback needs (it can deadlock against a
/// lookup/create in that directory that waits for us); send notifications from a thread of their own.
int cmf_notify_inval_entry(struct cmf_fuse_session *_Nonnull se, cmf_fuse_ino_t parent,
                           const char *_Nonnull name, size_t namelen);
/// fuse_lowlevel_notify_inval_inode: drops cached attributes (and data in [off, off+len); len 0 = to
/// the end, off -1 = attributes only).
int cmf_notify_inval_inode(struct cmf_fuse_session *_Nonnull se, cmf_fuse_ino_t ino, off_t off, off_t len);
/// fuse_lowlevel_notify_delete: tells the kernel that parent/name (inode child) was deleted, as if by
/// unlink: the dentry is dropped even while files are open on it.
int cmf_notify_delete(struct cmf_fuse_session *_Nonnull se, cmf_fuse_ino_t parent, cmf_fuse_ino_t child,
                      const char *_Nonnull name, size_t namelen);

#ifdef __cplusplus
}
#endif

#endif // CMAILSLOT_FUSE_H
