// libfuse3 loaded at run time: see include/CMailslotFuse.h for why, and for the ABI notes.
// Everything here is a thin call through a table of dlsym'd pointers; the only logic is choosing the
// library file, the symbol versions, and the fuse_file_info bit positions of the loaded version.
#define _GNU_SOURCE // dlvsym
#include "CMailslotFuse.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

// The library files to try, in order: the soname of 3.0-3.16, then that of 3.17+ (bumped because of the
// fuse_file_info break of 3.15/3.16).
static const char *const library_names[] = { "libfuse3.so.3", "libfuse3.so.4" };

#define INSTALL_HINT "install Debian's fuse3 package (libfuse3-3 (libfuse3-4 from Debian 13 on) and fusermount3)"

// The real prototypes, with our struct names (the layouts are the same; see the header).
typedef void (*log_func_t)(int level, const char *fmt, va_list ap);

static struct {
    void *handle;
    const char *name;
    int version; // 100 * major + minor
    const char *(*pkgversion)(void);
    int (*fuse_version)(void);
    void (*set_log_func)(log_func_t); // 3.7+, optional
    struct cmf_fuse_session *(*session_new)(struct cmf_fuse_args *, const struct cmf_fuse_lowlevel_ops *,
                                            size_t, void *);
    void (*opt_free_args)(struct cmf_fuse_args *);
    int (*session_mount)(struct cmf_fuse_session *, const char *);
    void (*session_unmount)(struct cmf_fuse_session *);
    void (*session_destroy)(struct cmf_fuse_session *);
    int (*session_fd)(struct cmf_fuse_session *);
    void (*session_exit)(struct cmf_fuse_session *);
    int (*session_exited)(struct cmf_fuse_session *);
    int (*session_receive_buf)(struct cmf_fuse_session *, struct cmf_fuse_buf *);
    void (*session_process_buf)(struct cmf_fuse_session *, const struct cmf_fuse_buf *);
    void *(*req_userdata)(cmf_fuse_req_t);
    const struct cmf_fuse_ctx *(*req_ctx)(cmf_fuse_req_t);
    int (*req_getgroups)(cmf_fuse_req_t, int, gid_t *);
    void (*req_interrupt_func)(cmf_fuse_req_t, cmf_fuse_interrupt_func_t, void *);
    int (*req_interrupted)(cmf_fuse_req_t);
    int (*reply_err)(cmf_fuse_req_t, int);
    void (*reply_none)(cmf_fuse_req_t);
    int (*reply_entry)(cmf_fuse_req_t, const struct cmf_fuse_entry_param *);
    int (*reply_create)(cmf_fuse_req_t, const struct cmf_fuse_entry_param *, const struct cmf_fuse_file_info *);
    int (*reply_attr)(cmf_fuse_req_t, const struct stat *, double);
    int (*reply_open)(cmf_fuse_req_t, const struct cmf_fuse_file_info *);
    int (*reply_write)(cmf_fuse_req_t, size_t);
    int (*reply_buf)(cmf_fuse_req_t, const char *, size_t);
    int (*reply_iov)(cmf_fuse_req_t, const struct iovec *, int);
    int (*reply_poll)(cmf_fuse_req_t, unsigned);
    size_t (*add_direntry)(cmf_fuse_req_t, char *, size_t, const char *, const struct stat *, off_t);
    int (*notify_poll)(struct cmf_fuse_pollhandle *);
    void (*pollhandle_destroy)(struct cmf_fuse_pollhandle *);
    int (*notify_inval_entry)(struct cmf_fuse_session *, cmf_fuse_ino_t, const char *, size_t);
    int (*notify_inval_inode)(struct cmf_fuse_session *, cmf_fuse_ino_t, off_t, off_t);
    int (*notify_delete)(struct cmf_fuse_session *, cmf_fuse_ino_t, cmf_fuse_ino_t, const char *, size_t);
} fuse;

// One entry per function: where its pointer goes, its name, the symbol version whose prototype (and
// struct layouts) we declared, and whether the library may lack it.
//
// Symbol versions: every function we use is in libfuse's FUSE_3.0 version node except
// fuse_set_log_func (FUSE_3.7). We ask for that exact version with dlvsym so that a later release that
// adds a new default version of a name (as 3.12 did for fuse_session_loop_mt and 3.17 for
// fuse_session_custom_io, with a different prototype) cannot silently hand us a function we did not
// declare. In particular fuse_session_new: 3.17+ makes the header's fuse_session_new a macro calling
// fuse_session_new_versioned@FUSE_3.17 (an extra `struct libfuse_version *` argument), and keeps
// fuse_session_new@FUSE_3.0 (our prototype) for old binaries: we pin FUSE_3.0. If the library was built
// without symbol versioning (meson falls back to that on linkers without .symver), dlvsym fails and we
// take the unversioned symbol.
struct symbol {
    void **slot;
    const char *name;
    const char *version;
    int optional;
};

#define SYM(field, symbol_name, node) { (void **)&fuse.field, symbol_name, node, 0 }
#define OPTIONAL_SYM(field, symbol_name, node) { (void **)&fuse.field, symbol_name, node, 1 }

static const struct symbol symbols[] = {
    SYM(pkgversion, "fuse_pkgversion", "FUSE_3.0"),
    SYM(fuse_version, "fuse_version", "FUSE_3.0"),
    OPTIONAL_SYM(set_log_func, "fuse_set_log_func", "FUSE_3.7"),
    SYM(session_new, "fuse_session_new", "FUSE_3.0"),
    SYM(opt_free_args, "fuse_opt_free_args", "FUSE_3.0"),
    SYM(session_mount, "fuse_session_mount", "FUSE_3.0"),
    SYM(session_unmount, "fuse_session_unmount", "FUSE_3.0"),
    SYM(session_destroy, "fuse_session_destroy", "FUSE_3.0"),
    SYM(session_fd, "fuse_session_fd", "FUSE_3.0"),
    SYM(session_exit, "fuse_session_exit", "FUSE_3.0"),
    SYM(session_exited, "fuse_session_exited", "FUSE_3.0"),
    SYM(session_receive_buf, "fuse_session_receive_buf", "FUSE_3.0"),
    SYM(session_process_buf, "fuse_session_process_buf", "FUSE_3.0"),
    SYM(req_userdata, "fuse_req_userdata", "FUSE_3.0"),
    SYM(req_ctx, "fuse_req_ctx", "FUSE_3.0"),
    SYM(req_getgroups, "fuse_req_getgroups", "FUSE_3.0"),
    SYM(req_interrupt_func, "fuse_req_interrupt_func", "FUSE_3.0"),
    SYM(req_interrupted, "fuse_req_interrupted", "FUSE_3.0"),
    SYM(reply_err, "fuse_reply_err", "FUSE_3.0"),
    SYM(reply_none, "fuse_reply_none", "FUSE_3.0"),
    SYM(reply_entry, "fuse_reply_entry", "FUSE_3.0"),
    SYM(reply_create, "fuse_reply_create", "FUSE_3.0"),
    SYM(reply_attr, "fuse_reply_attr", "FUSE_3.0"),
    SYM(reply_open, "fuse_reply_open", "FUSE_3.0"),
    SYM(reply_write, "fuse_reply_write", "FUSE_3.0"),
    SYM(reply_buf, "fuse_reply_buf", "FUSE_3.0"),
    SYM(reply_iov, "fuse_reply_iov", "FUSE_3.0"),
    SYM(reply_poll, "fuse_reply_poll", "FUSE_3.0"),
    SYM(add_direntry, "fuse_add_direntry", "FUSE_3.0"),
    SYM(notify_poll, "fuse_lowlevel_notify_poll", "FUSE_3.0"),
    SYM(pollhandle_destroy, "fuse_pollhandle_destroy", "FUSE_3.0"),
    SYM(notify_inval_entry, "fuse_lowlevel_notify_inval_entry", "FUSE_3.0"),
    SYM(notify_inval_inode, "fuse_lowlevel_notify_inval_inode", "FUSE_3.0"),
    SYM(notify_delete, "fuse_lowlevel_notify_delete", "FUSE_3.0"),
};

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static int load_state; // 0 not tried, 1 loaded, -1 failed (load_error says why)
static char load_error[512];
static _Atomic int loaded_version; // read without the lock by cmf_version / cmf_fi_*

static int load_locked(void) {
    char tried[384] = "";
    size_t used = 0;
    void *handle = NULL;
    const char *name = NULL;
    for (size_t i = 0; i < sizeof library_names / sizeof library_names[0] && handle == NULL; i++) {
        // RTLD_LOCAL: nothing of libfuse leaks into the global namespace; RTLD_NOW: fail here, not later.
        handle = dlopen(library_names[i], RTLD_NOW | RTLD_LOCAL);
        if (handle != NULL) {
            name = library_names[i];
        } else {
            const char *why = dlerror();
            int n = snprintf(tried + used, sizeof tried - used, "%s%s", used ? "; " : "",
                             why ? why : library_names[i]);
            if (n > 0) used += ((size_t)n < sizeof tried - used) ? (size_t)n : sizeof tried - used - 1;
        }
    }
    if (handle == NULL) {
        snprintf(load_error, sizeof load_error, "libfuse3 could not be loaded (%s): " INSTALL_HINT, tried);
        return -1;
    }
    for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
        const struct symbol *s = &symbols[i];
        void *p = dlvsym(handle, s->name, s->version);
        if (p == NULL) p = dlsym(handle, s->name);
        if (p == NULL && !s->optional) {
            snprintf(load_error, sizeof load_error,
                     "%s has no %s (version %s): this libfuse3 is too old or not libfuse 3.x; " INSTALL_HINT,
                     name, s->name, s->version);
            dlclose(handle);
            memset(&fuse, 0, sizeof fuse);
            return -1;
        }
        *s->slot = p;
    }
    // The version, from fuse_pkgversion() ("3.14.0", the build's package version): fuse_version() is
    // FUSE_MAKE_VERSION(FUSE_MAJOR_VERSION, FUSE_MINOR_VERSION) from the header, which was
    // major * 10 + minor before 3.10, and whose FUSE_MINOR_VERSION stayed 2 from 3.2 to 3.9.3 (so 3.9.0
    // reports 32). It is only the fallback.
    int version = 0;
    unsigned major = 0, minor = 0;
    const char *package = fuse.pkgversion();
    if (package != NULL && sscanf(package, "%u.%u", &major, &minor) == 2 && minor < 100) {
        version = (int)(major * 100 + minor);
    } else {
        version = fuse.fuse_version();
        if (version >= 30 && version <= 39) version = 300 + (version - 30);
    }
    if (version < 300 || version >= 400) {
        snprintf(load_error, sizeof load_error, "%s reports version %d, not 3.x; " INSTALL_HINT, name, version);
        dlclose(handle);
        memset(&fuse, 0, sizeof fuse);
        return -1;
    }
    fuse.handle = handle;
    fuse.name = name;
    fuse.version = version;
    atomic_store(&loaded_version, version);
    return 0;
}

int cmf_load(char *error, size_t errorSize) {
    pthread_mutex_lock(&load_lock);
    if (load_state == 0) load_state = load_locked() == 0 ? 1 : -1;
    int state = load_state;
    pthread_mutex_unlock(&load_lock);
    if (state == 1) {
        if (errorSize > 0) error[0] = '\0';
        return 0;
    }
    if (errorSize > 0) snprintf(error, errorSize, "%s", load_error);
    return -1;
}

int cmf_version(void) { return atomic_load(&loaded_version); }

const char *cmf_pkgversion(void) { return cmf_version() ? fuse.pkgversion() : NULL; }

const char *cmf_library_name(void) { return cmf_version() ? fuse.name : NULL; }

// MARK: - Log

static void (*_Atomic log_handler)(int, const char *);

__attribute__((format(printf, 2, 0))) static void log_trampoline(int level, const char *fmt, va_list ap) {
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && line[n - 1] == '\n') line[--n] = '\0';
    void (*handler)(int, const char *) = atomic_load(&log_handler);
    if (handler != NULL && n > 0) handler(level, line);
}

int cmf_set_log_handler(void (*handler)(int level, const char *message)) {
    if (!cmf_version() || fuse.set_log_func == NULL) return -1;
    atomic_store(&log_handler, handler);
    fuse.set_log_func(handler ? log_trampoline : NULL); // NULL restores libfuse's stderr logger
    return 0;
}

// MARK: - fuse_file_info flag bits

int cmf_fi_bit_position(int v, enum cmf_fi_bit bit) {
    int broken = v >= 315 && v <= 316; // parallel_direct_writes inserted at bit 3
    switch (bit) {
    case CMF_FI_WRITEPAGE: return 0;
    case CMF_FI_DIRECT_IO: return 1;
    case CMF_FI_KEEP_CACHE: return 2;
    case CMF_FI_FLUSH: return broken ? 4 : 3;
    case CMF_FI_NONSEEKABLE: return broken ? 5 : 4;
    case CMF_FI_FLOCK_RELEASE: return broken ? 6 : 5;
    case CMF_FI_CACHE_READDIR: return broken ? 7 : (v >= 305 ? 6 : -1);
    case CMF_FI_NOFLUSH: return broken ? 8 : (v >= 311 ? 7 : -1);
    case CMF_FI_PARALLEL_DIRECT_WRITES: return broken ? 3 : (v >= 317 ? 8 : -1);
    }
    return -1;
}

// The bits are the 32-bit word right after `flags` (offset 4) in every version: bitfields are allocated
// from the least significant bit on the ABIs we target (x86_64, aarch64 little-endian).
#define FI_BITS_OFFSET 4

int cmf_fi_get(const struct cmf_fuse_file_info *fi, enum cmf_fi_bit bit) {
    int position = cmf_fi_bit_position(cmf_version(), bit);
    if (position < 0) return 0;
    uint32_t word;
    memcpy(&word, (const char *)fi + FI_BITS_OFFSET, sizeof word);
    return (word >> position) & 1u;
}

int cmf_fi_set(struct cmf_fuse_file_info *fi, enum cmf_fi_bit bit, int on) {
    int position = cmf_fi_bit_position(cmf_version(), bit);
    if (position < 0) return -1;
    uint32_t word;
    memcpy(&word, (char *)fi + FI_BITS_OFFSET, sizeof word);
    word = on ? (word | (1u << position)) : (word & ~(1u << position));
    memcpy((char *)fi + FI_BITS_OFFSET, &word, sizeof word);
    return 0;
}

// MARK: - Session

struct cmf_fuse_session *cmf_session_new(struct cmf_fuse_args *args, const struct cmf_fuse_lowlevel_ops *ops,
                                         void *userdata) {
    return fuse.session_new(args, ops, sizeof *ops, userdata);
}
void cmf_opt_free_args(struct cmf_fuse_args *args) { fuse.opt_free_args(args); }
int cmf_session_mount(struct cmf_fuse_session *se, const char *mountpoint) { return fuse.session_mount(se, mountpoint); }
void cmf_session_unmount(struct cmf_fuse_session *se) { fuse.session_unmount(se); }
void cmf_session_destroy(struct cmf_fuse_session *se) { fuse.session_destroy(se); }
int cmf_session_fd(struct cmf_fuse_session *se) { return fuse.session_fd(se); }
void cmf_session_exit(struct cmf_fuse_session *se) { fuse.session_exit(se); }
int cmf_session_exited(struct cmf_fuse_session *se) { return fuse.session_exited(se); }
int cmf_session_receive_buf(struct cmf_fuse_session *se, struct cmf_fuse_buf *buf) {
    return fuse.session_receive_buf(se, buf);
}
void cmf_session_process_buf(struct cmf_fuse_session *se, const struct cmf_fuse_buf *buf) {
    fuse.session_process_buf(se, buf);
}

// MARK: - Requests

void *cmf_req_userdata(cmf_fuse_req_t req) { return fuse.req_userdata(req); }
const struct cmf_fuse_ctx *cmf_req_ctx(cmf_fuse_req_t req) { return fuse.req_ctx(req); }
int cmf_req_getgroups(cmf_fuse_req_t req, int size, gid_t *list) { return fuse.req_getgroups(req, size, list); }
void cmf_req_interrupt_func(cmf_fuse_req_t req, cmf_fuse_interrupt_func_t func, void *data) {
    fuse.req_interrupt_func(req, func, data);
}
int cmf_req_interrupted(cmf_fuse_req_t req) { return fuse.req_interrupted(req); }

// MARK: - Replies

int cmf_reply_err(cmf_fuse_req_t req, int err) { return fuse.reply_err(req, err); }
void cmf_reply_none(cmf_fuse_req_t req) { fuse.reply_none(req); }
int cmf_reply_entry(cmf_fuse_req_t req, const struct cmf_fuse_entry_param *e) { return fuse.reply_entry(req, e); }
int cmf_reply_create(cmf_fuse_req_t req, const struct cmf_fuse_entry_param *e, const struct cmf_fuse_file_info *fi) {
    return fuse.reply_create(req, e, fi);
}
int cmf_reply_attr(cmf_fuse_req_t req, const struct stat *attr, double attr_timeout) {
    return fuse.reply_attr(req, attr, attr_timeout);
}
int cmf_reply_open(cmf_fuse_req_t req, const struct cmf_fuse_file_info *fi) { return fuse.reply_open(req, fi); }
int cmf_reply_write(cmf_fuse_req_t req, size_t count) { return fuse.reply_write(req, count); }
int cmf_reply_buf(cmf_fuse_req_t req, const char *buf, size_t size) { return fuse.reply_buf(req, buf, size); }
int cmf_reply_iov(cmf_fuse_req_t req, const struct iovec *iov, int count) { return fuse.reply_iov(req, iov, count); }
int cmf_reply_poll(cmf_fuse_req_t req, unsigned revents) { return fuse.reply_poll(req, revents); }
size_t cmf_add_direntry(cmf_fuse_req_t req, char *buf, size_t bufsize, const char *name, const struct stat *stbuf,
                        off_t off) {
    return fuse.add_direntry(req, buf, bufsize, name, stbuf, off);
}

// MARK: - Notifications

int cmf_notify_poll(struct cmf_fuse_pollhandle *ph) { return fuse.notify_poll(ph); }
void cmf_pollhandle_destroy(struct cmf_fuse_pollhandle *ph) { fuse.pollhandle_destroy(ph); }
int cmf_notify_inval_entry(struct cmf_fuse_session *se, cmf_fuse_ino_t parent, const char *name, size_t namelen) {
    return fuse.notify_inval_entry(se, parent, name, namelen);
}
int cmf_notify_inval_inode(struct cmf_fuse_session *se, cmf_fuse_ino_t ino, off_t off, off_t len) {
    return fuse.notify_inval_inode(se, ino, off, len);
}
int cmf_notify_delete(struct cmf_fuse_session *se, cmf_fuse_ino_t parent, cmf_fuse_ino_t child, const char *name,
                      size_t namelen) {
    return fuse.notify_delete(se, parent, child, name, namelen);
}
