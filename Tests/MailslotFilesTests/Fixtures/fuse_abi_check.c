// Checks Sources/CMailslotFuse/include/CMailslotFuse.h (our own declaration of the libfuse3 ABI subset we
// use) against a real libfuse3 header: every struct's size, every member's offset and size, the flag bits
// of struct fuse_file_info, and the constants. It needs libfuse3-dev, which the package itself does not.
//
// Compile-time part (sizes, offsets, constants; fails to compile on a mismatch), from the package root:
//   cc -Wall -Wextra -Werror $(pkg-config --cflags fuse3) -I Sources/CMailslotFuse/include
//      -c Tests/MailslotFilesTests/Fixtures/fuse_abi_check.c -o /dev/null
// Run-time part (the bit fields, which no constant expression can inspect; exits non-zero on a mismatch):
//   cc -Wall -Wextra -Werror -DCMF_ABI_CHECK_MAIN $(pkg-config --cflags fuse3)
//      -I Sources/CMailslotFuse/include Tests/MailslotFilesTests/Fixtures/fuse_abi_check.c
//      Sources/CMailslotFuse/fuse.c -o /tmp/fuse_abi_check -ldl && /tmp/fuse_abi_check
// Any libfuse 3.10+ header works (the checks follow FUSE_MINOR_VERSION, which headers 3.2 through 3.9.3
// left at 2, so older ones fail the bit check for want of knowing their version): 3.14 is Debian 12's;
// 3.10, 3.12, 3.16 (the odd fuse_file_info bits), 3.17.1, 3.17.4 and 3.18.2 (the appended fields) were
// checked by pointing -I at those releases' include/ directories (3.17+ also need the libfuse_config.h
// that their build generates, defining FUSE_MAJOR_VERSION and FUSE_MINOR_VERSION).
#define FUSE_USE_VERSION 35 // the 3.5 API: valid for every 3.x header; nothing we compare depends on it
#include <fuse3/fuse_lowlevel.h>

#include "CMailslotFuse.h"

#include <stddef.h>

#define FUSE_HEADER_VERSION (FUSE_MAJOR_VERSION * 100 + FUSE_MINOR_VERSION)
_Static_assert(FUSE_MAJOR_VERSION == 3, "CMailslotFuse declares the libfuse 3.x ABI");

#define MEMBER_SIZE(type, member) sizeof(((type *)0)->member)

// Same offset and same size of one member (the names are the same on both sides unless stated).
#define SAME_MEMBER(ours, theirs, member)                                                              \
    _Static_assert(offsetof(struct ours, member) == offsetof(struct theirs, member),                   \
                   #ours "." #member ": offset differs from " #theirs);                                \
    _Static_assert(MEMBER_SIZE(struct ours, member) == MEMBER_SIZE(struct theirs, member),             \
                   #ours "." #member ": size differs from " #theirs)
#define SAME_SIZE(ours, theirs) \
    _Static_assert(sizeof(struct ours) == sizeof(struct theirs), #ours ": size differs from " #theirs)
// Our struct is a superset of an older header's: at least as large.
#define NOT_SMALLER(ours, theirs) \
    _Static_assert(sizeof(struct ours) >= sizeof(struct theirs), #ours ": smaller than " #theirs)

// MARK: scalar types
_Static_assert(sizeof(cmf_fuse_ino_t) == sizeof(fuse_ino_t), "fuse_ino_t");
_Static_assert(sizeof(cmf_fuse_req_t) == sizeof(fuse_req_t), "fuse_req_t");
_Static_assert(sizeof(off_t) == 8, "libfuse requires a 64-bit off_t");
_Static_assert(sizeof(cmf_fuse_interrupt_func_t) == sizeof(fuse_interrupt_func_t), "fuse_interrupt_func_t");

// MARK: struct fuse_args
SAME_SIZE(cmf_fuse_args, fuse_args);
SAME_MEMBER(cmf_fuse_args, fuse_args, argc);
SAME_MEMBER(cmf_fuse_args, fuse_args, argv);
SAME_MEMBER(cmf_fuse_args, fuse_args, allocated);

// MARK: struct fuse_conn_info (128 bytes in every 3.x; 3.17 carved fields out of `reserved`)
SAME_SIZE(cmf_fuse_conn_info, fuse_conn_info);
SAME_MEMBER(cmf_fuse_conn_info, fuse_conn_info, proto_major);
SAME_MEMBER(cmf_fuse_conn_info, fuse_conn_info, proto_minor);
SAME_MEMBER(cmf_fuse_conn_info, fuse_conn_info, max_write);
SAME_MEMBER(cmf_fuse_conn_info, fuse_conn_info, max_read);
SAME_MEMBER(cmf_fuse_conn_info, fuse_conn_info, max_readahead);
SAME_MEMBER(cmf_fuse_conn_info, fuse_conn_info, capable);
SAME_MEMBER(cmf_fuse_conn_info, fuse_conn_info, want);
SAME_MEMBER(cmf_fuse_conn_info, fuse_conn_info, max_background);
SAME_MEMBER(cmf_fuse_conn_info, fuse_conn_info, congestion_threshold);
SAME_MEMBER(cmf_fuse_conn_info, fuse_conn_info, time_gran);
#if FUSE_HEADER_VERSION >= 317
_Static_assert(offsetof(struct cmf_fuse_conn_info, reserved) == offsetof(struct fuse_conn_info, max_backing_stack_depth),
               "cmf_fuse_conn_info.reserved must start where 3.17 put max_backing_stack_depth");
#else
SAME_MEMBER(cmf_fuse_conn_info, fuse_conn_info, reserved);
#endif

// MARK: struct fuse_file_info (3.17+: 64 bytes, ours; before: 40 bytes, a prefix of ours)
SAME_MEMBER(cmf_fuse_file_info, fuse_file_info, flags);
SAME_MEMBER(cmf_fuse_file_info, fuse_file_info, fh);
SAME_MEMBER(cmf_fuse_file_info, fuse_file_info, lock_owner);
SAME_MEMBER(cmf_fuse_file_info, fuse_file_info, poll_events);
#if FUSE_HEADER_VERSION >= 317
SAME_SIZE(cmf_fuse_file_info, fuse_file_info);
SAME_MEMBER(cmf_fuse_file_info, fuse_file_info, backing_id);
SAME_MEMBER(cmf_fuse_file_info, fuse_file_info, compat_flags);
SAME_MEMBER(cmf_fuse_file_info, fuse_file_info, reserved);
#else
NOT_SMALLER(cmf_fuse_file_info, fuse_file_info);
_Static_assert(offsetof(struct cmf_fuse_file_info, backing_id) >= sizeof(struct fuse_file_info) - 4,
               "the 3.17 tail of cmf_fuse_file_info must lie past this version's poll_events");
#endif

// MARK: struct fuse_entry_param
SAME_SIZE(cmf_fuse_entry_param, fuse_entry_param);
SAME_MEMBER(cmf_fuse_entry_param, fuse_entry_param, ino);
SAME_MEMBER(cmf_fuse_entry_param, fuse_entry_param, generation);
SAME_MEMBER(cmf_fuse_entry_param, fuse_entry_param, attr);
SAME_MEMBER(cmf_fuse_entry_param, fuse_entry_param, attr_timeout);
SAME_MEMBER(cmf_fuse_entry_param, fuse_entry_param, entry_timeout);

// MARK: struct fuse_ctx
SAME_SIZE(cmf_fuse_ctx, fuse_ctx);
SAME_MEMBER(cmf_fuse_ctx, fuse_ctx, uid);
SAME_MEMBER(cmf_fuse_ctx, fuse_ctx, gid);
SAME_MEMBER(cmf_fuse_ctx, fuse_ctx, pid);
SAME_MEMBER(cmf_fuse_ctx, fuse_ctx, umask);

// MARK: struct fuse_forget_data
SAME_SIZE(cmf_fuse_forget_data, fuse_forget_data);
SAME_MEMBER(cmf_fuse_forget_data, fuse_forget_data, ino);
SAME_MEMBER(cmf_fuse_forget_data, fuse_forget_data, nlookup);

// MARK: struct fuse_buf (3.17+ appended mem_size)
SAME_MEMBER(cmf_fuse_buf, fuse_buf, size);
SAME_MEMBER(cmf_fuse_buf, fuse_buf, flags);
SAME_MEMBER(cmf_fuse_buf, fuse_buf, mem);
SAME_MEMBER(cmf_fuse_buf, fuse_buf, fd);
SAME_MEMBER(cmf_fuse_buf, fuse_buf, pos);
#if FUSE_HEADER_VERSION >= 317
SAME_SIZE(cmf_fuse_buf, fuse_buf);
SAME_MEMBER(cmf_fuse_buf, fuse_buf, mem_size);
#else
NOT_SMALLER(cmf_fuse_buf, fuse_buf);
_Static_assert(offsetof(struct cmf_fuse_buf, mem_size) == sizeof(struct fuse_buf), "mem_size is appended");
#endif

// MARK: struct fuse_lowlevel_ops (ours ends with lseek, the last member of 3.8 through 3.16)
#if FUSE_HEADER_VERSION >= 308 && FUSE_HEADER_VERSION <= 316
SAME_SIZE(cmf_fuse_lowlevel_ops, fuse_lowlevel_ops);
#elif FUSE_HEADER_VERSION >= 317
_Static_assert(sizeof(struct cmf_fuse_lowlevel_ops) == offsetof(struct fuse_lowlevel_ops, tmpfile),
               "cmf_fuse_lowlevel_ops must end where 3.17 appended tmpfile");
#endif
#define SAME_OP(member) SAME_MEMBER(cmf_fuse_lowlevel_ops, fuse_lowlevel_ops, member)
SAME_OP(init);
SAME_OP(destroy);
SAME_OP(lookup);
SAME_OP(forget);
SAME_OP(getattr);
SAME_OP(setattr);
SAME_OP(readlink);
SAME_OP(mknod);
SAME_OP(mkdir);
SAME_OP(unlink);
SAME_OP(rmdir);
SAME_OP(symlink);
SAME_OP(rename);
SAME_OP(link);
SAME_OP(open);
SAME_OP(read);
SAME_OP(write);
SAME_OP(flush);
SAME_OP(release);
SAME_OP(fsync);
SAME_OP(opendir);
SAME_OP(readdir);
SAME_OP(releasedir);
SAME_OP(fsyncdir);
SAME_OP(statfs);
SAME_OP(setxattr);
SAME_OP(getxattr);
SAME_OP(listxattr);
SAME_OP(removexattr);
SAME_OP(access);
SAME_OP(create);
SAME_OP(getlk);
SAME_OP(setlk);
SAME_OP(bmap);
SAME_OP(ioctl);
SAME_OP(poll);
SAME_OP(write_buf);
SAME_OP(retrieve_reply);
SAME_OP(forget_multi);
SAME_OP(flock);
SAME_OP(fallocate);
SAME_OP(readdirplus);
#if FUSE_HEADER_VERSION >= 304
SAME_OP(copy_file_range);
#endif
#if FUSE_HEADER_VERSION >= 308
SAME_OP(lseek);
#endif

// MARK: constants
_Static_assert(CMF_FUSE_ROOT_ID == FUSE_ROOT_ID, "FUSE_ROOT_ID");
_Static_assert(CMF_FUSE_BUF_IS_FD == FUSE_BUF_IS_FD, "FUSE_BUF_IS_FD");
#define SAME_CONSTANT(name) _Static_assert(CMF_##name == FUSE_##name, "FUSE_" #name)
SAME_CONSTANT(CAP_ASYNC_READ);
SAME_CONSTANT(CAP_POSIX_LOCKS);
SAME_CONSTANT(CAP_ATOMIC_O_TRUNC);
SAME_CONSTANT(CAP_EXPORT_SUPPORT);
SAME_CONSTANT(CAP_DONT_MASK);
SAME_CONSTANT(CAP_SPLICE_WRITE);
SAME_CONSTANT(CAP_SPLICE_MOVE);
SAME_CONSTANT(CAP_SPLICE_READ);
SAME_CONSTANT(CAP_FLOCK_LOCKS);
SAME_CONSTANT(CAP_IOCTL_DIR);
SAME_CONSTANT(CAP_AUTO_INVAL_DATA);
SAME_CONSTANT(CAP_READDIRPLUS);
SAME_CONSTANT(CAP_READDIRPLUS_AUTO);
SAME_CONSTANT(CAP_ASYNC_DIO);
SAME_CONSTANT(CAP_WRITEBACK_CACHE);
SAME_CONSTANT(CAP_NO_OPEN_SUPPORT);
SAME_CONSTANT(CAP_PARALLEL_DIROPS);
SAME_CONSTANT(CAP_POSIX_ACL);
SAME_CONSTANT(CAP_HANDLE_KILLPRIV);
#if FUSE_HEADER_VERSION >= 305
SAME_CONSTANT(CAP_NO_OPENDIR_SUPPORT);
#endif
#if FUSE_HEADER_VERSION >= 309
SAME_CONSTANT(CAP_EXPLICIT_INVAL_DATA);
#endif
#if FUSE_HEADER_VERSION >= 310
SAME_CONSTANT(CAP_CACHE_SYMLINKS);
#endif
#if FUSE_HEADER_VERSION >= 313
SAME_CONSTANT(CAP_EXPIRE_ONLY);
#endif
SAME_CONSTANT(SET_ATTR_MODE);
SAME_CONSTANT(SET_ATTR_UID);
SAME_CONSTANT(SET_ATTR_GID);
SAME_CONSTANT(SET_ATTR_SIZE);
SAME_CONSTANT(SET_ATTR_ATIME);
SAME_CONSTANT(SET_ATTR_MTIME);
SAME_CONSTANT(SET_ATTR_ATIME_NOW);
SAME_CONSTANT(SET_ATTR_MTIME_NOW);
SAME_CONSTANT(SET_ATTR_CTIME);

#ifdef CMF_ABI_CHECK_MAIN
// The bit fields. Each flag is set alone in a zeroed real struct fuse_file_info; the bytes must equal
// (1) our bit field of the same name set alone (except in 3.15/3.16, whose order we do not declare), and
// (2) the bit cmf_fi_bit_position gives for this header's version, which is what cmf_fi_get/set use.
#include <stdio.h>
#include <string.h>

static int failures;

static void check_bit(const char *name, const struct fuse_file_info *real, const struct cmf_fuse_file_info *ours,
                      enum cmf_fi_bit bit) {
    unsigned char a[sizeof(struct fuse_file_info)], b[sizeof(struct fuse_file_info)];
    memcpy(a, real, sizeof a);
    memcpy(b, ours, sizeof b); // ours is larger: its prefix
#if FUSE_HEADER_VERSION < 315 || FUSE_HEADER_VERSION > 316
    if (memcmp(a, b, sizeof a) != 0) {
        printf("FAIL fuse_file_info.%s: our bit field lies elsewhere\n", name);
        failures++;
    }
#endif
    int position = cmf_fi_bit_position(FUSE_HEADER_VERSION, bit);
    struct cmf_fuse_file_info expected;
    memset(&expected, 0, sizeof expected);
    if (position < 0) {
        printf("FAIL fuse_file_info.%s: cmf_fi_bit_position(%d) says this version has no such bit\n", name,
               FUSE_HEADER_VERSION);
        failures++;
        return;
    }
    uint32_t word = 1u << position;
    memcpy((char *)&expected + 4, &word, sizeof word);
    if (memcmp(a, &expected, sizeof a) != 0) {
        printf("FAIL fuse_file_info.%s: not at bit %d as cmf_fi_bit_position(%d) says\n", name, position,
               FUSE_HEADER_VERSION);
        failures++;
    } else {
        printf("ok   fuse_file_info.%s at bit %d\n", name, position);
    }
}

#define CHECK_BIT(member, bit)                                                                          \
    do {                                                                                                \
        struct fuse_file_info real;                                                                     \
        struct cmf_fuse_file_info ours;                                                                 \
        memset(&real, 0, sizeof real);                                                                  \
        memset(&ours, 0, sizeof ours);                                                                  \
        real.member = 1;                                                                                \
        ours.member = 1;                                                                                \
        check_bit(#member, &real, &ours, bit);                                                          \
    } while (0)

// The padding bit fields: with every named bit and every padding field set, both structs must have the
// words after `flags` all ones, so that named bits plus padding cover the same words on both sides (with
// the per-bit checks above, that makes the bit fields equivalent). `x--` from 0 sets every bit of a field
// whatever its width, which changed across versions.
static int all_ones(const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != 0xff) return 0;
    return 1;
}

static void check_padding(void) {
    struct fuse_file_info real;
    struct cmf_fuse_file_info ours;
    memset(&real, 0, sizeof real);
    memset(&ours, 0, sizeof ours);
    real.writepage = real.direct_io = real.keep_cache = real.flush = real.nonseekable = real.flock_release = 1;
#if FUSE_HEADER_VERSION >= 305
    real.cache_readdir = 1;
#endif
#if FUSE_HEADER_VERSION >= 311
    real.noflush = 1;
#endif
#if FUSE_HEADER_VERSION >= 315
    real.parallel_direct_writes = 1;
#endif
    real.padding--;
#if FUSE_HEADER_VERSION >= 310
    real.padding2--;
#endif
#if FUSE_HEADER_VERSION >= 317
    real.padding3--;
#endif
    ours.writepage = ours.direct_io = ours.keep_cache = ours.flush = ours.nonseekable = ours.flock_release = 1;
    ours.cache_readdir = ours.noflush = ours.parallel_direct_writes = 1;
    ours.padding--;
    ours.padding2--;
    ours.padding3--;
#if FUSE_HEADER_VERSION >= 317
    size_t words = 12; // bits, padding2, padding3
#elif FUSE_HEADER_VERSION >= 310
    size_t words = 8;  // bits, padding2
#else
    size_t words = 4;  // bits
#endif
    if (!all_ones((char *)&real + 4, words) || !all_ones((char *)&ours + 4, words)) {
        printf("FAIL fuse_file_info: named bits + padding do not cover the same %zu bytes\n", words);
        failures++;
    } else {
        printf("ok   fuse_file_info bit words (%zu bytes) fully covered on both sides\n", words);
    }
}

int main(void) {
    printf("checking against the libfuse %d.%d header\n", FUSE_MAJOR_VERSION, FUSE_MINOR_VERSION);
    CHECK_BIT(writepage, CMF_FI_WRITEPAGE);
    CHECK_BIT(direct_io, CMF_FI_DIRECT_IO);
    CHECK_BIT(keep_cache, CMF_FI_KEEP_CACHE);
    CHECK_BIT(flush, CMF_FI_FLUSH);
    CHECK_BIT(nonseekable, CMF_FI_NONSEEKABLE);
    CHECK_BIT(flock_release, CMF_FI_FLOCK_RELEASE);
#if FUSE_HEADER_VERSION >= 305
    CHECK_BIT(cache_readdir, CMF_FI_CACHE_READDIR);
#endif
#if FUSE_HEADER_VERSION >= 311
    CHECK_BIT(noflush, CMF_FI_NOFLUSH);
#endif
#if FUSE_HEADER_VERSION >= 315
    CHECK_BIT(parallel_direct_writes, CMF_FI_PARALLEL_DIRECT_WRITES);
#endif
    check_padding();
    // Bits this header does not have must be absent from the table too.
#if FUSE_HEADER_VERSION < 315
    if (cmf_fi_bit_position(FUSE_HEADER_VERSION, CMF_FI_PARALLEL_DIRECT_WRITES) != -1) {
        printf("FAIL parallel_direct_writes should not exist in %d\n", FUSE_HEADER_VERSION);
        failures++;
    }
#endif
    printf(failures ? "%d failed\n" : "all bit checks passed\n", failures);
    return failures ? 1 : 0;
}
#endif
